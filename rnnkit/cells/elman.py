"""Elman cell (the Theano notebook; the Simple RNNs post writes the same map with input and state concatenated)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Cell, check_size
from .spec import ElmanSpec
from .base import activation as resolve_activation


class ElmanCell(Cell):
    r"""Elman network step, the Theano notebook's ``one_step``:

    .. math::
        h_t = \mathrm{act}(x_t W_{ih} + h_{t-1} W_{hh} + b_h), \qquad
        o_t = \mathrm{act}_o(h_t W_{ho} + b_o) \ \text{(only with output_size)}

    The Simple RNNs post concatenates ``[x_t, h_{t-1}]`` and multiplies by one matrix: that matrix is
    ``W_ih`` stacked on ``W_hh``, so it is the same map.

    Weights are stored (in, out), as the seeds write them: ``weight_ih`` (D, H),
    ``weight_hh`` (H, H), ``bias`` (H,), and with an output map ``weight_ho`` (H, O), ``bias_o`` (O,).
    The state is ``h`` (B, H); the output is ``o_t`` (B, O) with an output map, else ``h_t``.

    >>> cell = ElmanCell(3, 5)
    >>> y, h = cell(torch.randn(2, 3), cell.initial_state(2))
    >>> tuple(y.shape), tuple(h.shape)
    ((2, 5), (2, 5))
    >>> ElmanCell(3, 5, output_size=7, output_activation="sigmoid").output_size
    7
    """

    hoists_input = True

    def __init__(self, input_size: int, hidden_size: int, *, activation: str = "tanh", bias: bool = True,
                 output_size: int | None = None, output_activation: str = "identity"):
        super().__init__()
        check_size("input_size", input_size)
        check_size("hidden_size", hidden_size)
        check_size("output_size", output_size, allow_none=True)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.activation_name = activation
        self.act = resolve_activation(activation)
        self.weight_ih = nn.Parameter(torch.empty(input_size, hidden_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.has_output_map = output_size is not None
        self.output_activation_name = output_activation if isinstance(output_activation, str) else "custom"
        self.output_size = output_size if output_size is not None else hidden_size
        if self.has_output_map:
            self.act_o = resolve_activation(output_activation)
            self.weight_ho = nn.Parameter(torch.empty(hidden_size, output_size))
            self.bias_o = nn.Parameter(torch.empty(output_size))
        self.reset_parameters()

    def spec(self) -> ElmanSpec:
        """This cell's options, as routing, interop and the kernels read them."""
        return ElmanSpec(self.input_size, self.hidden_size,
                         self.activation_name if isinstance(self.activation_name, str) else "custom",
                         self.bias is not None, self.output_size if self.has_output_map else None,
                         self.output_activation_name)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        return self._zeros(batch_size, self.hidden_size, device, dtype)

    def project_input(self, x: Tensor) -> Tensor:
        """x W_ih + b_h: (..., D) -> (..., H)."""
        gx = x @ self.weight_ih
        return gx + self.bias if self.bias is not None else gx

    def step(self, gx: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        h = self.act(gx + h @ self.weight_hh)                       # (B, H)
        if self.has_output_map:
            return self.act_o(h @ self.weight_ho + self.bias_o), h  # (B, O), (B, H)
        return h, h

    def forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        self.check_step_input(x)
        return self.step(self.project_input(x), h)

