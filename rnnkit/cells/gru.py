"""Gated recurrent unit (Albert's notes and the ML@B slides), with layer norm as an option."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Cell, check_size
from .spec import GRUSpec


class GRUCell(Cell):
    r"""GRU step. Gate order ``r, z, n`` (torch.nn.GRU's).

    .. math::
        r_t &= \sigma(x_t W_{ir} + b_{ir} + h_{t-1} W_{hr} + b_{hr}) \\
        z_t &= \sigma(x_t W_{iz} + b_{iz} + h_{t-1} W_{hz} + b_{hz}) \\
        n_t &= \tanh(x_t W_{in} + b_{in} + r_t \odot (h_{t-1} W_{hn} + b_{hn}))
               \quad\text{(reset\_after=True, torch/cuDNN)} \\
        n_t &= \tanh(x_t W_{in} + b_{in} + (r_t \odot h_{t-1}) W_{hn} + b_{hn})
               \quad\text{(reset\_after=False, Albert's notes' } B_v(R \circ y)\text{)} \\
        h_t &= z_t \odot h_{t-1} + (1 - z_t) \odot n_t

    Albert's notes names the update gate ``U`` and the reset gate ``R``:
    ``v = U o s + (1 - U) o tanh(A_v x + B_v (R o y) + b_v)`` (the seed prints ``(1 - s)``, a typo for
    ``(1 - U)``; its code is garbled too). ``layer_norm`` normalises the input and the recurrent
    transforms: ``LN(x W_ih) + b_ih`` and ``LN(h W_hh) + b_hh``.

    Weights are stored (in, out): ``weight_ih`` (D, 3H), ``weight_hh`` (H, 3H), ``bias_ih``, ``bias_hh`` (3H,).

    >>> cell = GRUCell(3, 4)
    >>> y, h = cell(torch.randn(2, 3), cell.initial_state(2))
    >>> tuple(y.shape), bool((y == h).all())
    ((2, 4), True)
    """

    hoists_input = True

    def __init__(self, input_size: int, hidden_size: int, *, layer_norm: bool = False, reset_after: bool = True,
                 bias: bool = True):
        super().__init__()
        check_size("input_size", input_size)
        check_size("hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        if layer_norm and not reset_after:
            raise ValueError("GRUCell layer_norm needs reset_after=True (the recurrent transform is normalised "
                             "as a whole); received layer_norm=True, reset_after=False")
        self.layer_norm, self.reset_after = layer_norm, reset_after
        H3 = 3 * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(input_size, H3))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, H3))
        self.bias_ih = nn.Parameter(torch.empty(H3)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(H3)) if bias else None
        if layer_norm:
            self.ln_ih = nn.LayerNorm(H3, bias=False)
            self.ln_hh = nn.LayerNorm(H3, bias=False)
        self.reset_parameters()

    def spec(self) -> GRUSpec:
        """This cell's options, as routing, interop and the kernels read them."""
        return GRUSpec(self.input_size, self.hidden_size, self.layer_norm, self.reset_after, self.bias_ih is not None)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        return self._zeros(batch_size, self.hidden_size, device, dtype)

    def project_input(self, x: Tensor) -> Tensor:
        """The input's share of the gates: (..., D) -> (..., 3H)."""
        gx = x @ self.weight_ih
        if self.layer_norm:
            gx = self.ln_ih(gx)
        return gx + self.bias_ih if self.bias_ih is not None else gx

    def _recurrent(self, h: Tensor, weight: Tensor, bias: Tensor | None, ln: bool) -> Tensor:
        gh = h @ weight
        if ln:
            gh = self.ln_hh(gh)
        return gh + bias if bias is not None else gh

    def step(self, gx: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        H = self.hidden_size
        gx_r, gx_z, gx_n = gx.chunk(3, dim=-1)                   # (B, H) each
        if self.reset_after:
            gh_r, gh_z, gh_n = self._recurrent(h, self.weight_hh, self.bias_hh, self.layer_norm).chunk(3, dim=-1)
            r = torch.sigmoid(gx_r + gh_r)
            z = torch.sigmoid(gx_z + gh_z)
            n = torch.tanh(gx_n + r * gh_n)
        else:
            b_rz = self.bias_hh[: 2 * H] if self.bias_hh is not None else None
            b_n = self.bias_hh[2 * H:] if self.bias_hh is not None else None
            gh_r, gh_z = self._recurrent(h, self.weight_hh[:, : 2 * H], b_rz, False).chunk(2, dim=-1)
            r = torch.sigmoid(gx_r + gh_r)
            z = torch.sigmoid(gx_z + gh_z)
            n = torch.tanh(gx_n + self._recurrent(r * h, self.weight_hh[:, 2 * H:], b_n, False))
        h = z * h + (1 - z) * n                                  # (B, H)
        return h, h

    def forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        self.check_step_input(x)
        return self.step(self.project_input(x), h)
