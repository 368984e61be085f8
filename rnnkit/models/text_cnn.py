"""LSTM-CNN for texts: the recurrent text classifier beside a convolutional one over the same token embeddings.

A convolution of width k over token embeddings followed by the maximum over the text is a set of learned
k-gram detectors: "does a pattern like this occur anywhere?" (Kim 2014, *Convolutional Neural Networks for
Sentence Classification*, for words; Zhang, Zhao & LeCun 2015, *Character-level Convolutional Networks for
Text Classification*, for characters). Such detectors are what a character n-gram logistic regression learns
from, and all positions of a window are computed at once, where a recurrent layer steps through them one after
another. Joined before the head with the recurrent branch's summary, as LSTM-FCN joins FCN's for series
(Karim et al. 2017), the model keeps the recurrent reading and gains the n-gram evidence cheaply.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells import svd_rescaled_linear_
from ..sequence import step_mask
from ..state import State
from .config import RecurrentConfig
from .sequence import SequenceModel

TEXT_CNN_WIDTHS = (3, 5, 7)      # the convolutions' widths in tokens: Kim 2014's 3-5 for words, up to 7 characters
TEXT_CNN_FILTERS = 128           # filters of each width


class TokenCNN(nn.Module):
    """Convolutions of each width in ``widths`` (``filters`` each, ReLU) over embeddings (B, T, D), each followed
    by the maximum over the positions where it lies wholly inside the text; (B, filters * len(widths)).

    Padding never counts: a text shorter than a width is read as if zero-padded to it, on its own or in a
    batch, and a position that reaches past a text's end is left out of its maximum.

    >>> cnn = TokenCNN(4, widths=(2, 3), filters=5)
    >>> x = torch.randn(1, 6, 4)
    >>> padded = torch.cat([x, torch.randn(1, 3, 4)], 1)            # the same text in a longer batch
    >>> torch.allclose(cnn(x, torch.tensor([6])), cnn(padded, torch.tensor([6])))
    True
    """

    def __init__(self, input_size: int, widths: tuple[int, ...] = TEXT_CNN_WIDTHS, filters: int = TEXT_CNN_FILTERS):
        super().__init__()
        self.widths = tuple(widths)
        self.convs = nn.ModuleList(nn.Conv1d(input_size, filters, k) for k in self.widths)
        self.output_size = filters * len(self.widths)

    def forward(self, x: Tensor, lengths) -> Tensor:
        B, T, _ = x.shape
        n = (torch.as_tensor(lengths, device=x.device) if lengths is not None
             else torch.full((B,), T, device=x.device))
        live = step_mask(n, T).unsqueeze(1)                                 # (B, 1, T)
        f = x.transpose(1, 2) * live                                        # (B, D, T): padding reads as zeros
        widest = max(self.widths)
        if T < widest:                                                      # every width fits at least once
            f = F.pad(f, (0, widest - T))
        pooled = []
        for k, conv in zip(self.widths, self.convs):
            h = F.relu(conv(f))                                             # (B, C, T' - k + 1)
            # a position counts when it starts inside the text and the text has room for it (one position at
            # least: a text shorter than k is read once, zero-padded)
            fits = step_mask((n - k + 1).clamp(min=1), h.shape[-1]).unsqueeze(1)       # (B, 1, T' - k + 1)
            pooled.append(h.masked_fill(~fits, 0.0).amax(-1))               # ReLU >= 0: 0 never wins wrongly
        return torch.cat(pooled, -1)                                        # (B, C * len(widths))


class LSTMCNN(SequenceModel):
    """A recurrent text classifier (any rnnkit stack and readout) beside ``TokenCNN`` over the same embeddings,
    the two summaries joined before one linear layer to the outputs.

    >>> m = LSTMCNN(RecurrentConfig(hidden_size=8), vocab_size=20, embed_size=6, output_size=3, readout="max")
    >>> logits, _ = m(torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0]]), lengths=torch.tensor([4, 2]))
    >>> tuple(logits.shape)
    (2, 3)
    """

    export_refusal = "has a convolutional branch over the whole sequence (LSTM-CNN)"

    def __init__(self, rnn: RecurrentConfig, *, vocab_size: int, output_size: int, embed_size: int = 64,
                 readout: str = "max", widths: tuple[int, ...] = TEXT_CNN_WIDTHS, filters: int = TEXT_CNN_FILTERS):
        super().__init__(rnn, vocab_size=vocab_size, embed_size=embed_size, output_size=output_size, readout=readout)
        if readout == "all":
            raise ValueError("LSTM-CNN gives one output per sequence; received readout 'all'")
        self.cnn = TokenCNN(embed_size, widths, filters)
        self.head = nn.Linear(self.runner.output_size + self.cnn.output_size, output_size)
        if rnn.init == "svd":
            svd_rescaled_linear_(self.head)

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State = None) -> tuple[Tensor, State]:
        h = self.features(x.to(self.device))                              # (B, T, E)
        joined = torch.cat([self.read(h, lengths, state), self.cnn(h, lengths)], dim=-1)
        return self.head(self.dropout(joined)), None
