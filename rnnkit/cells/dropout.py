"""Dropout around a cell: on its input, output and state; variational or per step (the ML@B slides' DropoutWrapper)."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..state import LSTMState, State, leaves, map_state, merge_state
from .base import Wrapper


class DropoutState(NamedTuple):
    """The wrapped cell's state and the per-sequence masks of variational dropout (None when unused)."""

    cell: State
    input_mask: Tensor | None
    output_mask: Tensor | None
    state_mask: State | None


def dropped_leaves(state: State) -> State:
    """The state leaves dropout touches: all, except an LSTM's memory ``c`` (TF1's default filter)."""
    if isinstance(state, LSTMState):
        return LSTMState(state.h, None)
    if isinstance(state, tuple):
        return type(state)(*map(dropped_leaves, state)) if hasattr(state, "_fields") else tuple(map(dropped_leaves, state))
    return state


def _mask_like(t: Tensor, p: float) -> Tensor:
    """Inverted-dropout mask: 0 with probability p, else 1/(1-p)."""
    return torch.empty_like(t).bernoulli_(1 - p) / (1 - p)


class Dropout(Wrapper):
    r"""Dropout on a cell's input, output and state, each with its own rate ``p`` (the share dropped).

    ``variational=True`` (Gal & Ghahramani 2016) samples one mask per sequence in ``initial_state``
    and uses it at every step; ``variational=False`` samples new masks at every step. State dropout
    touches every state leaf but an LSTM's memory ``c`` (TF1 DropoutWrapper's default). In eval
    mode (``module.eval()``) nothing is dropped.

    .. math::
        y_t, s_t = \mathrm{cell}(m_x \odot x_t,\ s_{t-1}); \quad y_t \leftarrow m_y \odot y_t; \quad
        s_t \leftarrow m_s \odot s_t

    >>> from rnnkit import LSTMCell
    >>> cell = Dropout(LSTMCell(3, 4), input_p=0.2, state_p=0.3, variational=True)
    >>> y, s = cell(torch.randn(2, 3), cell.initial_state(2))
    >>> tuple(y.shape), tuple(s.input_mask.shape), tuple(s.state_mask.h.shape)
    ((2, 4), (2, 3), (2, 4))
    """

    def __init__(self, cell: nn.Module, *, input_p: float = 0.0, output_p: float = 0.0, state_p: float = 0.0,
                 variational: bool = False):
        for name, p in (("input_p", input_p), ("output_p", output_p), ("state_p", state_p)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"Dropout {name} must be in [0, 1); received {p!r}")
        if input_p > 0 and getattr(cell, "takes_tokens", False):
            raise ValueError("Dropout input_p cannot drop token ids; wrap the cell inside the Embedding instead")
        super().__init__(cell)
        self.input_p, self.output_p, self.state_p, self.variational = input_p, output_p, state_p, variational

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> DropoutState:
        inner = self.cell.initial_state(batch_size, device=device, dtype=dtype)
        if not (self.variational and self.training):
            return DropoutState(inner, None, None, None)
        ref = leaves(inner)[0]
        def sample(size: int, p: float) -> Tensor | None:
            return _mask_like(ref.new_empty(batch_size, size), p) if p > 0 else None
        state_mask = map_state(lambda t: _mask_like(t, self.state_p), dropped_leaves(inner)) if self.state_p > 0 else None
        return DropoutState(inner, sample(self.input_size, self.input_p), sample(self.output_size, self.output_p),
                            state_mask)

    def _drop(self, t: Tensor, mask: Tensor | None, p: float) -> Tensor:
        if not self.training or p == 0:
            return t
        if self.variational:
            return t * mask if mask is not None else t
        return torch.nn.functional.dropout(t, p, training=True)

    def forward(self, x: Tensor, state: DropoutState) -> tuple[Tensor, DropoutState]:
        if not self.takes_tokens:
            x = self._drop(x, state.input_mask, self.input_p)
        y, s = self.cell(x, state.cell)
        y = self._drop(y, state.output_mask, self.output_p)
        if self.training and self.state_p > 0:
            s = self._drop_state(s, state.state_mask)
        return y, DropoutState(s, state.input_mask, state.output_mask, state.state_mask)

    def _drop_state(self, s: State, masks: State | None) -> State:
        targets = dropped_leaves(s)
        if self.variational:
            dropped = map_state(lambda t, m: t * m, targets, masks)
        else:
            dropped = map_state(lambda t: torch.nn.functional.dropout(t, self.state_p, training=True), targets)
        return merge_state(s, dropped)

