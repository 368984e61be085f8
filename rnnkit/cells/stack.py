"""Composition of cells (Albert's notes' ``(f; g)``, the ML@B slides' ``MultiRNNCell``)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ..state import State
from .base import Cell


class Stack(Cell):
    r"""Feed each cell's output to the next; the state is the tuple of their states.

    Albert's notes: ``(f; g)(x, s_1, s_2) = (y, s_1', s_2')`` where ``f(x, s_1) = (x', s_1')`` and
    ``g(x', s_2) = (y, s_2')``. A Stack is itself a cell (the ML@B slides: "the composition of RNNCells
    is still an RNNCell").

    >>> from rnnkit import LSTMCell, GRUCell
    >>> cell = Stack([LSTMCell(3, 8), GRUCell(8, 4)])
    >>> y, (s1, s2) = cell(torch.randn(2, 3), cell.initial_state(2))
    >>> tuple(y.shape), tuple(s1.c.shape), tuple(s2.shape)
    ((2, 4), (2, 8), (2, 4))
    """

    def __init__(self, cells: Sequence[nn.Module]):
        super().__init__()
        if len(cells) == 0:
            raise ValueError("Stack needs at least one cell; received an empty list")
        for k, (a, b) in enumerate(zip(cells, cells[1:])):
            if a.output_size != b.input_size:
                raise ValueError(f"Stack: cell {k} outputs {a.output_size} features but cell {k + 1} expects "
                                 f"input_size={b.input_size}")
        self.cells = nn.ModuleList(cells)
        self.input_size, self.output_size = cells[0].input_size, cells[-1].output_size
        self.takes_tokens = getattr(cells[0], "takes_tokens", False)

    @property
    def hoists_input(self) -> bool:
        """Hoisting passes through to the first cell."""
        return getattr(self.cells[0], "hoists_input", False)

    def project_input(self, x: Tensor) -> Tensor:
        """The first cell's input projection, for all steps at once."""
        return self.cells[0].project_input(x)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> tuple:
        return tuple(c.initial_state(batch_size, device=device, dtype=dtype) for c in self.cells)

    def step(self, gx: Tensor, states: tuple) -> tuple[Tensor, tuple]:
        """Like ``forward`` with the first cell's input already projected (``project_input``)."""
        y, s0 = self.cells[0].step(gx, states[0])
        return self._rest(y, states, [s0])

    def forward(self, x: Tensor, states: tuple) -> tuple[Tensor, tuple]:
        y, s0 = self.cells[0](x, states[0])
        return self._rest(y, states, [s0])

    def _rest(self, y: Tensor, states: tuple, new: list[State]) -> tuple[Tensor, tuple]:
        for cell, s in zip(self.cells[1:], states[1:]):
            y, s = cell(y, s)
            new.append(s)
        return y, tuple(new)
