"""Image captioning: a small convolutional encoder and a recurrent decoder with the ML@B slides' attention
LSTM, Show, Attend and Tell's soft attention, or none."""
from __future__ import annotations

from dataclasses import fields, replace
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells import LSTMCell, Stack
from ..options import flag_name
from .attention import Attention
from .config import RecurrentConfig
from .encoder_decoder import EncoderDecoderCore


class ConvEncoder(nn.Module):
    """Grey images (B, 1, H, W) -> a grid of feature vectors (B, h*w, C), h = H // 4, w = W // 4.

    Three 3x3 convolutions with ReLU, 2x2 max-pooling after the first two: the "few convolutional
    layers" of the ML@B slides' captioning model, small enough to train on a CPU. Grid cells are
    numbered row by row; those past an image's own width (padding in a batch) are masked out.
    """

    def __init__(self, channels: int = 64):
        super().__init__()
        self.channels = channels
        self.net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(32, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())

    def forward(self, images: Tensor, widths: Tensor) -> tuple[Tensor, Tensor, tuple[int, int]]:
        f = self.net(images)                                                # (B, C, h, w)
        B, C, h, w = f.shape
        cols = (widths.to(f.device) + 3) // 4                               # grid columns an image covers
        live = torch.arange(w, device=f.device).unsqueeze(0) < cols.unsqueeze(1)             # (B, w)
        mask = live.unsqueeze(1).expand(B, h, w).reshape(B, h * w)                             # (B, h*w)
        return f.flatten(2).transpose(1, 2), mask, (h, w)                   # (B, h*w, C)


CAPTION_ATTENTION = ("slides", "soft", "none")


class Captioner(EncoderDecoderCore):
    r"""Image -> caption: a convolutional encoder, then a recurrent decoder stepped over the words.

    ``attention="slides"`` is the attention LSTM of the ML@B slides,
    ``(i, f, o, g, a_t) = (σ, σ, σ, tanh, softmax) ∘ W (I ∘ a_{t−1}, h_{t−1}, x)``: one linear map of the
    image features weighted by the previous step's attention (``z = Σ_j a_{t−1,j} I_j``), the previous
    output and the word gives the LSTM's gates and the next attention over the ``G`` grid cells (G is
    fixed by the widest training image; cells past an image's width get no weight). The gates are an
    rnnkit ``LSTMCell`` reading ``[z; x]``, the attention rows a linear map of ``[z; h_{t−1}; x]``.

    ``attention="soft"`` is Show, Attend and Tell's (Xu et al. 2015): ``h_{t−1}`` scores every grid cell
    (additive attention), ``z_t = β ⊙ Σ_j α_j I_j`` with the gate ``β = σ(W_β h_{t−1})`` joins the word as
    the cell's input, and the output is ``L_o(E y_{t−1} + L_h h_t + L_z z_t)``. Any rnnkit cell decodes.

    ``attention="none"``: the mean feature vector joins every step's input (no weighting of parts).

    In every form the initial state is a linear map of the mean feature vector (Xu et al.'s init MLP).
    """

    def __init__(self, rnn: RecurrentConfig, vocab_size: int, *, grid_size: int, attention: str = "soft",
                 channels: int = 64, embed_size: int = 64):
        super().__init__()
        if attention not in CAPTION_ATTENTION:
            raise ValueError(f"caption attention must be one of {CAPTION_ATTENTION}; received {attention!r}")
        plain = replace(RecurrentConfig(), hidden_size=rnn.hidden_size, dropout=rnn.dropout)
        if attention == "slides" and (rnn.decoder_config() != plain.decoder_config() or rnn.num_layers != 1):
            changed = [flag_name(f.name) for f in fields(rnn) if getattr(rnn, f.name) != getattr(plain, f.name)]
            raise ValueError(f"the slides' attention LSTM is one plain LSTM layer; received {' '.join(changed)}")
        self.kind, self.grid_size = attention, grid_size
        C, E = channels, embed_size
        self.encoder = ConvEncoder(C)
        self.embedding = nn.Embedding(vocab_size, E)
        if attention == "slides":
            self.decoder = LSTMCell(C + E, rnn.hidden_size)
            H = self.decoder.output_size
            self.attend = nn.Linear(C + H + E, grid_size)                  # the a_t rows of the slides' W
        else:
            cells = self.decoder_cells(rnn, E + C)
            self.decoder = cells[0] if len(cells) == 1 else Stack(cells)
            H = self.decoder.output_size
        self.bridge = nn.Linear(C, self.state_size(self.decoder))
        if attention == "soft":
            self.init_query = nn.Linear(C, H)
            self.attention = Attention("additive", H, C)
            self.gate = nn.Linear(H, 1)
            self.L_h, self.L_z = nn.Linear(H, E), nn.Linear(C, E, bias=False)
            self.head = nn.Linear(E, vocab_size)
        else:
            self.attention = None
            self.head = nn.Linear(H, vocab_size)
        self.dropout = nn.Dropout(rnn.dropout)

    def encode(self, images: Tensor, widths: Tensor) -> tuple[Tensor, Tensor, tuple[int, int], tuple]:
        """The grid (B, G, C), its mask (B, G), its (rows, columns), and the decoder's first carry."""
        grid, mask, shape = self.encoder(images.to(self.device), widths)
        if self.kind == "slides" and grid.shape[1] > self.grid_size:
            raise ValueError(f"expected images at most {self.grid_size // shape[0] * 4} pixels wide (the widest "
                             f"training image); received {int(widths.max())}")
        live = mask.unsqueeze(-1).to(grid.dtype)
        mean = (grid * live).sum(1) / live.sum(1).clamp(min=1)                # (B, C)
        state = self.bridged_state(self.decoder, mean)
        if self.kind == "slides":
            grid, mask = self._pad_grid(grid, mask)
            a0 = mask.to(grid.dtype) / mask.sum(1, keepdim=True).clamp(min=1)   # uniform over the image
            return grid, mask, shape, (state, a0)
        if self.kind == "soft":
            return grid, mask, shape, (state, torch.tanh(self.init_query(mean)))
        return grid, mask, shape, (state, mean)

    def _pad_grid(self, grid: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """The slides' attention has one row of W per grid cell: narrower grids are padded to G."""
        extra = self.grid_size - grid.shape[1]
        return F.pad(grid, (0, 0, 0, extra)), F.pad(mask, (0, extra), value=False)

    def step(self, y_prev: Tensor, carry: tuple, grid: Tensor, mask: Tensor) -> tuple[Tensor, tuple, Tensor | None]:
        """One word: logits (B, V), the new carry, and the attention weights (B, G) that this word read."""
        x = self.embedding(y_prev)                                          # (B, E)
        state, extra = carry
        if self.kind == "slides":
            a_prev = extra                                                  # (B, G)
            z = torch.bmm(a_prev.unsqueeze(1), grid).squeeze(1)             # I ∘ a_{t-1}: (B, C)
            h_new, state_new = self.decoder(torch.cat([z, x], dim=-1), state)
            scores = self.attend(torch.cat([z, state.h, x], dim=-1)).masked_fill(~mask, float("-inf"))
            a_t = torch.nan_to_num(F.softmax(scores, dim=-1))
            return self.head(self.dropout(h_new)), (state_new, a_t), a_prev
        if self.kind == "soft":
            query = extra                                                   # h_{t-1}: (B, H)
            context, alpha = self.attention(query, grid, mask)
            z = torch.sigmoid(self.gate(query)) * context                   # (B, C)
            h, state = self.decoder(torch.cat([x, z], dim=-1), state)
            logits = self.head(self.dropout(x + self.L_h(h) + self.L_z(z)))
            return logits, (state, h), alpha
        h, state = self.decoder(torch.cat([x, extra], dim=-1), state)
        return self.head(self.dropout(h)), (state, extra), None

    # -- the encoder-decoder core's hooks: the carry is (state, the previous attention or query) ------------------
    def start(self, images: Tensor, widths: Tensor):
        grid, mask, _, carry = self.encode(images, widths)
        return grid, mask, carry

    @torch.no_grad()
    def decode(self, images: Tensor, widths: Tensor, *, bos: int, eos: int, max_len: int, beam: int = 1,
               banned: Sequence[int] = ()):
        """Captions (EOS excluded), each word's attention weights over the grid, and the grid's (rows, cols)
        (three 3x3 convolutions that keep the size, two 2x2 poolings: a quarter each way)."""
        outs, maps = super().decode(images, widths, bos=bos, eos=eos, max_len=max_len, beam=beam, banned=banned)
        return outs, maps, (images.shape[2] // 4, images.shape[3] // 4)
