"""The cell contract (Albert's notes: ``f : A x S -> B x S``; the ML@B slides: ``call(inputs, state) = (output, next_state)``).

A cell is one step of a recurrent network::

    y_t, s_t = cell(x_t, s_{t-1})        x_t: (B, D) -> y_t: (B, O)

It knows its ``input_size`` D and ``output_size`` O and makes its own ``initial_state(B)``.
Any ``nn.Module`` keeping this contract runs everywhere a built-in cell does.

A cell may declare ``hoists_input = True``: it splits a step in two so that runners can hoist the
input projection out of the time loop (one matrix product for all T steps):

    gx = cell.project_input(x)           # (..., D) -> (..., G), no recurrence
    y_t, s_t = cell.step(gx_t, s_{t-1})  # the recurrent part

and ``forward(x_t, s) == step(project_input(x_t), s)``. A ``Wrapper`` is a cell made of one cell.
"""
from __future__ import annotations

from typing import Callable

import math

import torch
from torch import Tensor, nn

from ..state import State

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "identity": lambda t: t,
    "linear": lambda t: t,
    "softsign": torch.nn.functional.softsign,
    "elu": torch.nn.functional.elu,
}


def activation(name_or_fn: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """Resolve an activation given by name (``"tanh"``, ``"relu"``, ...) or as a callable.

    >>> activation("relu")(torch.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    if callable(name_or_fn):
        return name_or_fn
    if name_or_fn not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or a callable; received {name_or_fn!r}")
    return ACTIVATIONS[name_or_fn]


def check_size(name: str, value: int | None, *, allow_none: bool = False) -> None:
    """Sizes are positive ints; say what arrived otherwise."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int; received {value!r}")


class Cell(nn.Module):
    """Base class of rnnkit's cells: sizes, a zero initial state, input checks.

    Subclasses set ``input_size``, ``output_size`` and implement ``forward(x_t, state)``
    and ``initial_state(batch_size, *, device=None, dtype=None)``.
    ``takes_tokens`` is true for cells that read integer token ids (B,) instead of (B, D).
    """

    input_size: int
    output_size: int
    takes_tokens: bool = False
    hoists_input: bool = False       # has project_input(x) and step(gx_t, s); see the module docstring

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> State:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset_parameters(self) -> None:
        """Every weight and bias of this cell from U(-1/sqrt(H), 1/sqrt(H)), as torch.nn.LSTM/GRU/RNN do;
        its LayerNorms back to gain 1 and bias 0. Wrappers own no weights; wrapped cells keep theirs."""
        for p in self.parameters(recurse=False):
            nn.init.uniform_(p, -1.0 / math.sqrt(self.hidden_size), 1.0 / math.sqrt(self.hidden_size))
        for m in self.children():
            if isinstance(m, nn.LayerNorm):
                m.reset_parameters()

    def _zeros(self, batch_size: int, size: int, device, dtype) -> Tensor:
        ref = next(self.parameters(), None)
        device = device if device is not None else (ref.device if ref is not None else None)
        dtype = dtype if dtype is not None else (ref.dtype if ref is not None else torch.get_default_dtype())
        return torch.zeros(batch_size, size, device=device, dtype=dtype)

    def check_step_input(self, x: Tensor) -> None:
        """One step's input: (B, D) floating point."""
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__} expects a tensor input; received {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(
                f"{type(self).__name__} expects floating-point input of size {self.input_size}; "
                f"received {x.dtype} (token ids need an Embedding cell)"
            )
        if x.dim() != 2 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects one step of shape (B, {self.input_size}); received {tuple(x.shape)}"
            )


class Wrapper(Cell):
    """A cell made of one cell (dropout, zoneout, residual, embedding, projection, learned initial state):
    the input size, output size, token input and initial state are the inner cell's unless the
    wrapper sets its own.

    >>> from rnnkit import GRUCell
    >>> w = Wrapper(GRUCell(3, 4))
    >>> w.input_size, w.output_size, tuple(w.initial_state(2).shape)
    (3, 4, (2, 4))
    """

    def __init__(self, cell: nn.Module):
        super().__init__()
        self.cell = cell
        self.input_size, self.output_size = cell.input_size, cell.output_size
        self.takes_tokens = getattr(cell, "takes_tokens", False)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> State:
        return self.cell.initial_state(batch_size, device=device, dtype=dtype)

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self.cell(x, state)
