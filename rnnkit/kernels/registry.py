"""The fast-path registry: ``unroll`` asks it which implementation runs a cell over a sequence.

A fast path is ``(name, types, supports, run)``:

- ``types``: the cell classes it serves, matched **exactly** (``type(cell) in types``), never by name
  and never by subclass, since a subclass may change what a step does; an empty tuple serves any
  class, for a path chosen by a capability the cell declares (``supports`` checks it);
- ``supports(cell, x) -> bool``: whether it computes this cell (its options) for this input (its
  device, dtype and shape) exactly as the generic loop would;
- ``run(cell, x, lengths, state, reverse) -> (outputs, final_state)``: the whole sequence, with the
  masking model of ``rnnkit.sequence`` (lengths already checked, ``state`` the full initial state).

Paths are tried newest first, so a path registered later (by a user, or for a new device) takes
precedence over the built-in ones for the types it serves; ``unroll`` falls back to its generic
autograd loop when no path supports the call. ``only_generic()`` switches every fast path off
within a block; it is a context variable, so nested and concurrent uses restore what they found.

>>> import torch, rnnkit as rk
>>> class Doubler(rk.Cell):
...     input_size = output_size = 2
...     def initial_state(self, batch_size, *, device=None, dtype=None):
...         return torch.zeros(batch_size, 2)
...     def forward(self, x, h):
...         return 2 * x, h
>>> def run_doubler(cell, x, lengths, state, reverse):
...     return 2 * x, state
>>> with registered("doubler", (Doubler,), lambda cell, x: True, run_doubler):
...     path_for(Doubler(), torch.ones(1, 3, 2))
'doubler'
>>> path_for(Doubler(), torch.ones(1, 3, 2))
'generic'
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Callable, Iterator

from torch import Tensor, nn

__all__ = ["FastPath", "register", "unregister", "registered", "find", "path_for", "paths", "only_generic"]


@dataclass(frozen=True)
class FastPath:
    """One registered implementation of ``unroll`` for some cell types."""

    name: str
    types: tuple[type, ...]
    supports: Callable[[nn.Module, Tensor], bool]
    run: Callable

    def serves(self, cell: nn.Module, x: Tensor) -> bool:
        return (not self.types or type(cell) in self.types) and bool(self.supports(cell, x))


_PATHS: list[FastPath] = []                 # newest first
_GENERIC_ONLY = contextvars.ContextVar("rnnkit_generic_only", default=False)


def register(name: str, types, supports: Callable[[nn.Module, Tensor], bool], run: Callable) -> FastPath:
    """Add a fast path for the cell classes ``types`` (a class or a tuple of them); a path of the same
    name is replaced. Returns the registered path."""
    types = tuple(types) if isinstance(types, (tuple, list)) else (types,)
    if not all(isinstance(t, type) for t in types):
        raise TypeError(f"register: types must be a class or a tuple of classes; received {types!r}")
    if not (callable(supports) and callable(run)):
        raise TypeError("register: supports and run must be callables")
    unregister(name)
    path = FastPath(name, types, supports, run)
    _PATHS.insert(0, path)
    return path


def unregister(name: str) -> None:
    """Remove the fast path called ``name`` (nothing happens when there is none)."""
    _PATHS[:] = [p for p in _PATHS if p.name != name]


@contextlib.contextmanager
def registered(name: str, types, supports, run) -> Iterator[FastPath]:
    """A fast path registered for the duration of a block (tests, experiments)."""
    previous = [p for p in _PATHS if p.name == name]
    path = register(name, types, supports, run)
    try:
        yield path
    finally:
        unregister(name)
        for p in previous:
            _PATHS.insert(0, p)


def paths() -> list[FastPath]:
    """The registered fast paths, in the order they are tried."""
    return list(_PATHS)


def find(cell: nn.Module, x: Tensor) -> FastPath | None:
    """The fast path ``unroll(cell, x)`` takes, or None for the generic loop."""
    if _GENERIC_ONLY.get():
        return None
    for path in _PATHS:
        if path.serves(cell, x):
            return path
    return None


def path_for(cell: nn.Module, x: Tensor) -> str:
    """The name of the path ``unroll(cell, x)`` takes: a registered name or ``"generic"``."""
    path = find(cell, x)
    return "generic" if path is None else path.name


@contextlib.contextmanager
def only_generic() -> Iterator[None]:
    """Within this block every ``unroll`` takes the generic autograd loop (equivalence tests)."""
    token = _GENERIC_ONLY.set(True)
    try:
        yield
    finally:
        _GENERIC_ONLY.reset(token)
