"""LSTM cell with every option of TF1's ``LSTMCell`` (the ML@B slides), the RNN 1 notes' LSTM without forget gate, and layer norm."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..state import LSTMState
from .base import Cell, check_size
from .spec import LSTMSpec
from .base import activation as resolve_activation


class LSTMCell(Cell):
    r"""Long short-term memory step. Gate order ``i, f, u, o`` (torch.nn.LSTM's ``i, f, g, o``).

    The RNN 1 notes' equations, with the forget gate it adds and TF1's options (the ML@B slides):

    .. math::
        [a_i, a_f, a_u, a_o] &= x_t W_{ih} + h_{t-1} W_{hh} + b \\
        i_t &= \sigma(a_i + w_{ci} \odot c_{t-1}) \qquad
        f_t  = \sigma(a_f + w_{cf} \odot c_{t-1} + \text{forget\_bias}) \qquad
        u_t  = \mathrm{act}(a_u) \\
        c_t &= \mathrm{clip}(f_t \odot c_{t-1} + i_t \odot u_t,\ \text{cell\_clip}) \\
        o_t &= \sigma(a_o + w_{co} \odot c_t) \\
        m_t &= o_t \odot \mathrm{act}(c_t), \qquad
        h_t  = \mathrm{clip}(m_t W_{proj},\ \text{proj\_clip}) \ \text{(or } h_t = m_t \text{ without projection)}

    - ``peepholes`` adds the diagonal ``w_c*`` terms (TF1 ``use_peepholes``; ``o`` peeks at the new ``c_t``).
    - ``forget_bias`` is a constant added to the forget gate's pre-activation, as TF1 does.
    - ``proj_size`` (TF1 ``num_proj``, torch ``proj_size``) projects ``m_t`` to P; the state's ``h`` is then (B, P).
    - ``forget_gate=False`` is the RNN 1 notes' first LSTM: ``c_t = c_{t-1} + i_t \odot u_t``, gates ``i, u, o``.
    - ``layer_norm`` (Ba et al. 2016): ``a = LN(x W_{ih}) + LN(h W_{hh}) + b`` and
      ``m_t = o_t \odot act(LN(c_t))``; the carried ``c_t`` stays un-normalised.

    Weights are stored (in, out): ``weight_ih`` (D, G*H), ``weight_hh`` (P, G*H), ``bias`` (G*H,),
    ``weight_proj`` (H, P), peepholes ``weight_ci``, ``weight_cf``, ``weight_co`` (H,); G = 4 (3 without forget gate).

    >>> cell = LSTMCell(3, 8, proj_size=5, peepholes=True, cell_clip=3.0)
    >>> y, s = cell(torch.randn(2, 3), cell.initial_state(2))
    >>> tuple(y.shape), tuple(s.h.shape), tuple(s.c.shape)
    ((2, 5), (2, 5), (2, 8))
    """

    hoists_input = True

    def __init__(self, input_size: int, hidden_size: int, *, forget_bias: float = 1.0, peepholes: bool = False,
                 proj_size: int | None = None, cell_clip: float | None = None, proj_clip: float | None = None,
                 forget_gate: bool = True, layer_norm: bool = False, activation: str = "tanh", bias: bool = True):
        super().__init__()
        check_size("input_size", input_size)
        check_size("hidden_size", hidden_size)
        check_size("proj_size", proj_size, allow_none=True)
        if proj_clip is not None and proj_size is None:
            raise ValueError(f"proj_clip needs a projection (proj_size); received proj_clip={proj_clip} and proj_size=None")
        for name, clip in (("cell_clip", cell_clip), ("proj_clip", proj_clip)):
            if clip is not None and not clip > 0:
                raise ValueError(f"{name} must be a positive number or None; received {clip!r}")
        self.input_size, self.hidden_size, self.proj_size = input_size, hidden_size, proj_size
        self.output_size = proj_size or hidden_size
        self.forget_bias, self.peepholes, self.forget_gate = float(forget_bias), peepholes, forget_gate
        self.cell_clip, self.proj_clip, self.layer_norm = cell_clip, proj_clip, layer_norm
        self.activation_name = activation
        self.act = resolve_activation(activation)
        self.num_gates = 4 if forget_gate else 3
        G, H, P, D = self.num_gates * hidden_size, hidden_size, self.output_size, input_size
        self.weight_ih = nn.Parameter(torch.empty(D, G))
        self.weight_hh = nn.Parameter(torch.empty(P, G))
        self.bias = nn.Parameter(torch.empty(G)) if bias else None
        if peepholes:
            self.weight_ci = nn.Parameter(torch.empty(H))
            self.weight_cf = nn.Parameter(torch.empty(H)) if forget_gate else None
            self.weight_co = nn.Parameter(torch.empty(H))
        self.weight_proj = nn.Parameter(torch.empty(H, P)) if proj_size else None
        if layer_norm:
            self.ln_ih = nn.LayerNorm(G, bias=False)
            self.ln_hh = nn.LayerNorm(G, bias=False)
            self.ln_c = nn.LayerNorm(H)
        self.reset_parameters()

    def spec(self) -> LSTMSpec:
        """This cell's options, as routing, interop and the kernels read them."""
        return LSTMSpec(self.input_size, self.hidden_size, self.proj_size, self.forget_bias, self.peepholes,
                        self.cell_clip, self.proj_clip, self.forget_gate, self.layer_norm,
                        self.activation_name if isinstance(self.activation_name, str) else "custom",
                        self.bias is not None)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> LSTMState:
        return LSTMState(self._zeros(batch_size, self.output_size, device, dtype),
                         self._zeros(batch_size, self.hidden_size, device, dtype))

    def project_input(self, x: Tensor) -> Tensor:
        """The input's share of the gates: (..., D) -> (..., G*H)."""
        if self.layer_norm:
            gx = self.ln_ih(x @ self.weight_ih)
            return gx + self.bias if self.bias is not None else gx
        if self.bias is None:
            return x @ self.weight_ih
        flat = x.reshape(-1, x.shape[-1])                         # one addmm, bias included
        return torch.addmm(self.bias, flat, self.weight_ih).view(*x.shape[:-1], self.weight_ih.shape[1])

    def step(self, gx: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        h_prev, c_prev = state                                   # (B, P), (B, H)
        if self.layer_norm:
            a = gx + self.ln_hh(h_prev @ self.weight_hh)         # (B, G*H)
        else:
            a = torch.addmm(gx, h_prev, self.weight_hh)          # gx + h_{t-1} W_hh
        if self.forget_gate:
            a_i, a_f, a_u, a_o = a.chunk(4, dim=-1)
        else:
            a_i, a_u, a_o = a.chunk(3, dim=-1)
        if self.peepholes:
            a_i = a_i + self.weight_ci * c_prev
        i = torch.sigmoid(a_i)
        u = self.act(a_u)
        if self.forget_gate:
            if self.peepholes:
                a_f = a_f + self.weight_cf * c_prev
            f = torch.sigmoid(a_f + self.forget_bias)
            c = f * c_prev + i * u
        else:
            c = c_prev + i * u
        if self.cell_clip is not None:
            c = c.clamp(-self.cell_clip, self.cell_clip)
        if self.peepholes:
            a_o = a_o + self.weight_co * c
        o = torch.sigmoid(a_o)
        m = o * self.act(self.ln_c(c) if self.layer_norm else c)  # (B, H)
        if self.weight_proj is not None:
            m = m @ self.weight_proj                              # (B, P)
            if self.proj_clip is not None:
                m = m.clamp(-self.proj_clip, self.proj_clip)
        return m, LSTMState(m, c)

    def forward(self, x: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        self.check_step_input(x)
        return self.step(self.project_input(x), state)
