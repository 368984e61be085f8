r"""Recurrences linear in their state, ``h_t = a_t \odot h_{t-1} + b_t``: minGRU and minLSTM (Feng et al.
2024, "Were RNNs All We Needed?").

Their gates read only the input, never ``h_{t-1}``, so ``a_t`` and ``b_t`` of every step are known
before the recurrence runs, and the whole sequence is a prefix scan of the associative operator
``(a, b) . (a', b') = (a a', a' b + b')``: ``O(log T)`` sequential depth instead of ``T``
(``rnnkit.kernels.scan``). Stepping one ``t`` at a time (generation, streaming) is the cell's
``forward``, as for every cell.

A cell declares this form with ``linear_recurrence(x) -> (a, b)`` for a whole input (B, T, D) (or one
step (B, D)); any cell, a user's too, that declares it gets the scan in ``unroll``.

.. math::
    \text{minGRU:}\quad z_t = \sigma(x_t W_z + b_z), \quad \tilde h_t = g(x_t W_h + b_h), \quad
    h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t

    \text{minLSTM:}\quad f_t = \sigma(x_t W_f + b_f), \quad i_t = \sigma(x_t W_i + b_i), \quad
    h_t = \frac{f_t}{f_t + i_t} \odot h_{t-1} + \frac{i_t}{f_t + i_t} \odot g(x_t W_h + b_h)

with ``g(v) = v + 1/2`` for ``v >= 0`` and ``sigmoid(v)`` below (the paper's positive activation,
used in its log-space form); ``activation="identity"`` gives the paper's plain form.

>>> cell = MinGRUCell(3, 4)
>>> a, b = cell.linear_recurrence(torch.randn(2, 5, 3))
>>> tuple(a.shape), bool(((a > 0) & (a < 1)).all())
((2, 5, 4), True)
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Cell, check_size

__all__ = ["MinGRUCell", "MinLSTMCell", "positive"]


def positive(v: Tensor) -> Tensor:
    """The paper's ``g``: ``v + 1/2`` for ``v >= 0``, ``sigmoid(v)`` below; continuous and positive.

    >>> positive(torch.tensor([-100.0, 0.0, 2.0])).tolist()
    [0.0, 0.5, 2.5]
    """
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


_CANDIDATE = {"positive": positive, "identity": lambda v: v, "tanh": torch.tanh}


class _Linear(Cell):
    """What minGRU and minLSTM share: one input map for all gates, the step ``h = a h + b``."""

    hoists_input = False
    num_maps: int

    def __init__(self, input_size: int, hidden_size: int, *, activation: str = "positive", bias: bool = True):
        super().__init__()
        check_size("input_size", input_size)
        check_size("hidden_size", hidden_size)
        if activation not in _CANDIDATE:
            raise ValueError(f"activation must be one of {sorted(_CANDIDATE)}; received {activation!r}")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.activation_name, self.g = activation, _CANDIDATE[activation]
        self.weight_ih = nn.Parameter(torch.empty(input_size, self.num_maps * hidden_size))
        self.bias = nn.Parameter(torch.empty(self.num_maps * hidden_size)) if bias else None
        self.reset_parameters()

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        return self._zeros(batch_size, self.hidden_size, device, dtype)

    def _maps(self, x: Tensor) -> tuple[Tensor, ...]:
        gx = x @ self.weight_ih
        if self.bias is not None:
            gx = gx + self.bias
        return gx.chunk(self.num_maps, dim=-1)

    def linear_recurrence(self, x: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        self.check_step_input(x)
        a, b = self.linear_recurrence(x)
        h = a * h + b                                                       # (B, H)
        return h, h


class MinGRUCell(_Linear):
    """minGRU: an update gate and a candidate, both from the input alone (see the module docstring).

    >>> cell = MinGRUCell(3, 4)
    >>> y, h = cell(torch.randn(2, 3), cell.initial_state(2))
    >>> tuple(y.shape), bool(torch.equal(y, h))
    ((2, 4), True)
    """

    num_maps = 2

    def linear_recurrence(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(a, b) with ``h_t = a_t h_{t-1} + b_t``: a = 1 - z, b = z g(x W_h + b_h); shapes (..., H)."""
        k, v = self._maps(x)
        z = torch.sigmoid(k)
        return 1 - z, z * self.g(v)


class MinLSTMCell(_Linear):
    """minLSTM: forget and input gates from the input alone, normalised to sum to one.

    >>> cell = MinLSTMCell(3, 4)
    >>> a, b = cell.linear_recurrence(torch.zeros(1, 3))
    >>> bool(((a > 0) & (a < 1)).all())
    True
    """

    num_maps = 3

    def linear_recurrence(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(a, b): a = f / (f + i), b = i / (f + i) g(x W_h + b_h); shapes (..., H)."""
        kf, ki, v = self._maps(x)
        f, i = torch.sigmoid(kf), torch.sigmoid(ki)
        total = f + i
        return f / total, i / total * self.g(v)
