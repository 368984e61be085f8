"""Recurrent state: a tensor, or a (named) tuple of states, every leaf batch-first.

Albert's notes writes a cell as ``f : A x S -> B x S``; S is whatever the cell carries:
a tensor ``h`` (Elman, GRU), a named pair ``LSTMState(h, c)`` (LSTM), or a tuple of
the states of stacked cells (the ML@B slides: "the composition of RNNCells is still an
RNNCell", its state being the tuple of theirs). The helpers here walk that tree.

>>> s = LSTMState(torch.zeros(2, 3), torch.ones(2, 3))
>>> map_state(lambda t: t * 2, s).c.sum().item()
12.0
>>> [tuple(t.shape) for t in leaves((s, torch.zeros(2, 5)))]
[(2, 3), (2, 3), (2, 5)]
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import torch
from torch import Tensor

State = Any  # Tensor | tuple[State, ...] | NamedTuple of States


class LSTMState(NamedTuple):
    """LSTM state: ``h`` (B, P) the output (projected when ``proj_size``), ``c`` (B, H) the memory cell."""

    h: Tensor
    c: Tensor


def _is_namedtuple(s: Any) -> bool:
    return isinstance(s, tuple) and hasattr(s, "_fields")


def map_state(fn: Callable[..., Tensor], *states: State) -> State:
    """Apply ``fn`` leaf by leaf to states of the same structure; keeps the structure."""
    first = states[0]
    if first is None:
        return None
    if isinstance(first, Tensor):
        return fn(*states)
    if isinstance(first, tuple):
        parts = [map_state(fn, *group) for group in zip(*states)]
        return type(first)(*parts) if _is_namedtuple(first) else tuple(parts)
    raise TypeError(f"a recurrent state must be a tensor or a tuple of states; received {type(first).__name__}")


def leaves(state: State) -> list[Tensor]:
    """The tensors of a state, depth first."""
    if state is None:
        return []
    if isinstance(state, Tensor):
        return [state]
    return [t for part in state for t in leaves(part)]


def where_state(keep_new: Tensor, new: State, old: State) -> State:
    """Per sequence, take ``new`` where ``keep_new`` (B,) is true, else ``old`` (masking model, the Simple RNNs post)."""

    def pick(n: Tensor, o: Tensor) -> Tensor:
        m = keep_new.view(-1, *([1] * (n.dim() - 1)))
        return torch.where(m, n, o)

    return map_state(pick, new, old)


def merge_state(full: State, partial: State) -> State:
    """Leaves of ``partial`` where it has them, else those of ``full`` (same structure; None = keep)."""
    if partial is None:
        return full
    if isinstance(full, Tensor):
        return partial
    parts = [merge_state(f, p) for f, p in zip(full, partial)]
    return type(full)(*parts) if _is_namedtuple(full) else tuple(parts)


def detach_state(state: State) -> State:
    """Cut the graph at a truncated-BPTT border, keeping the values (``repackage_hidden``)."""
    return map_state(lambda t: t.detach(), state)


def select_batch(state: State, index: Tensor | slice | int) -> State:
    """The state of some sequences of the batch (index into dim 0 of every leaf)."""
    return map_state(lambda t: t[index], state)


def describe(state: State) -> str:
    """A short text of a state's structure and shapes, for error messages."""
    if state is None:
        return "None"
    if isinstance(state, Tensor):
        return str(tuple(state.shape))
    if _is_namedtuple(state):
        inner = ", ".join(f"{k}={describe(v)}" for k, v in zip(state._fields, state))
        return f"{type(state).__name__}({inner})"
    if isinstance(state, tuple):
        return "(" + ", ".join(describe(s) for s in state) + ")"
    return type(state).__name__
