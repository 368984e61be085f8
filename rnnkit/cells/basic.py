"""Albert's notes' basic recurrent node: separate output and state maps."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Cell, check_size
from .base import activation as resolve_activation


class BasicRNNCell(Cell):
    r"""Albert's notes' basic recurrent node ``f(x, s) = (u(x, s), v(x, s))``:

    .. math::
        u(x, s) = f(A_u x + B_u s + b_u), \qquad v(x, s) = \tanh(A_v x + B_v s + b_v)

    ``u`` is the output (size O), ``v`` the next state (size H); O may differ from H.
    Albert's notes' TensorFlow code has no biases; ``bias=False`` gives exactly that.
    Weights are stored (in, out) as in the seed: ``A_u`` (D, O), ``B_u`` (H, O), ``A_v`` (D, H), ``B_v`` (H, H).

    >>> cell = BasicRNNCell(3, 4, output_size=6)
    >>> y, s = cell(torch.randn(2, 3), cell.initial_state(2))
    >>> tuple(y.shape), tuple(s.shape)
    ((2, 6), (2, 4))
    """

    def __init__(self, input_size: int, hidden_size: int, *, output_size: int | None = None,
                 output_activation: str = "relu", bias: bool = True):
        super().__init__()
        check_size("input_size", input_size)
        check_size("hidden_size", hidden_size)
        check_size("output_size", output_size, allow_none=True)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.output_size = output_size if output_size is not None else hidden_size
        self.f = resolve_activation(output_activation)
        O, H, D = self.output_size, hidden_size, input_size
        self.A_u = nn.Parameter(torch.empty(D, O))
        self.B_u = nn.Parameter(torch.empty(H, O))
        self.A_v = nn.Parameter(torch.empty(D, H))
        self.B_v = nn.Parameter(torch.empty(H, H))
        self.b_u = nn.Parameter(torch.empty(O)) if bias else None
        self.b_v = nn.Parameter(torch.empty(H)) if bias else None
        self.reset_parameters()

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        return self._zeros(batch_size, self.hidden_size, device, dtype)

    def forward(self, x: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        self.check_step_input(x)
        pre_u = x @ self.A_u + s @ self.B_u                      # (B, O)
        pre_v = x @ self.A_v + s @ self.B_v                      # (B, H)
        if self.b_u is not None:
            pre_u, pre_v = pre_u + self.b_u, pre_v + self.b_v
        return self.f(pre_u), torch.tanh(pre_v)
