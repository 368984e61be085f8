"""LSTM-FCN (Karim et al. 2017): a recurrent branch beside Wang et al. 2017's fully convolutional network."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..cells import svd_rescaled_linear_
from ..state import State
from .batch_norm import MaskedBatchNorm1d, live_steps
from .config import RecurrentConfig
from .sequence import SequenceModel


FCN_FILTERS = (128, 256, 128)    # Wang et al. 2017's three convolutions: filters and widths
FCN_KERNELS = (8, 5, 3)


class FCN(nn.Module):
    """The fully convolutional branch of Wang et al. 2017 (as in Karim et al. 2017's LSTM-FCN): three 1-d
    convolutions (128 filters of width 8, 256 of 5, 128 of 3), each with batch normalisation and ReLU, then the
    mean over each series' own steps. (B, T, D) -> (B, 128).

    Padding never counts: every block's output is zero past a series' end (what a convolution of the series
    alone reads beyond its end), batch normalisation takes its statistics over live steps only, and the mean
    pools each series' own steps; a batch padded to any length gives the outputs and gradients of the series
    without padding."""

    def __init__(self, input_size: int, widths: tuple[int, ...] = FCN_FILTERS, kernels: tuple[int, ...] = FCN_KERNELS):
        super().__init__()
        self.blocks, d = nn.ModuleList(), input_size
        for w, k in zip(widths, kernels):
            # "same" padding, the extra step of an even width on the right (as Keras pads)
            self.blocks.append(nn.Sequential(nn.ConstantPad1d(((k - 1) // 2, k // 2), 0.0), nn.Conv1d(d, w, k),
                                             MaskedBatchNorm1d(w), nn.ReLU()))
            d = w
        self.output_size = d

    def forward(self, x: Tensor, lengths) -> Tensor:
        live = live_steps(x, lengths)                                       # (B, 1, T)
        f = x.transpose(1, 2) * live                                        # (B, D, T)
        for pad, conv, norm, act in self.blocks:
            f = act(norm(conv(pad(f)), live)) * live   # past a series' end stays zero, as alone
        return f.sum(-1) / live.sum(-1).clamp(min=1)                        # (B, C)


class LSTMFCN(SequenceModel):
    """LSTM-FCN (Karim et al. 2017): a recurrent branch (any rnnkit stack and readout) beside a fully
    convolutional branch, their two summaries joined before one linear layer to the classes.

    The recurrent branch reads the series step by step, as the multivariate MLSTM-FCN (Karim et al. 2019)
    does, not the univariate paper's "dimension shuffle" (the whole series as one step). Neither branch sees
    the padding of a batch of unequal lengths (``FCN``, ``MaskedBatchNorm1d``).
    """

    export_refusal = "has a convolutional branch over the whole sequence (LSTM-FCN)"

    def __init__(self, rnn: RecurrentConfig, *, input_size: int, output_size: int, readout: str = "last",
                 filters: tuple[int, ...] = FCN_FILTERS, log_length: tuple[float, float] | None = None):
        super().__init__(rnn, input_size=input_size, output_size=output_size, readout=readout)
        if readout == "all":
            raise ValueError("LSTM-FCN gives one output per sequence; received readout 'all'")
        self.fcn = self.branch(input_size, tuple(filters))        # the convolutional branch
        # the series' own length as one more input to the head, standardised by the training set's mean and sd of
        # log length: both branches pool or read each series' own steps, so without it a padded archive's cue
        # (how long a gesture took) is lost
        self.log_length = tuple(log_length) if log_length is not None else None
        extra = 1 if self.log_length is not None else 0
        self.head = nn.Linear(self.runner.output_size + self.fcn.output_size + extra, output_size)
        if rnn.init == "svd":
            svd_rescaled_linear_(self.head)

    def branch(self, input_size: int, filters: tuple[int, ...]) -> nn.Module:
        """The convolutional branch beside the recurrent one: FCN with ``filters`` (a family may give another)."""
        return FCN(input_size, filters)

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State = None) -> tuple[Tensor, State]:
        h = self.features(x.to(self.device))                              # (B, T, D)
        joined = [self.read(h, lengths, state), self.fcn(h, lengths)]
        if self.log_length is not None:
            n = (torch.as_tensor(lengths, device=h.device) if lengths is not None
                 else torch.full((h.shape[0],), h.shape[1], device=h.device)).to(h.dtype).clamp(min=1)
            mean, sd = self.log_length
            joined.append(((n.log() - mean) / sd).unsqueeze(-1))                         # (B, 1)
        return self.head(self.dropout(torch.cat(joined, dim=-1))), None
