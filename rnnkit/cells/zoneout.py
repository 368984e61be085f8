"""Zoneout around a cell (Krueger et al. 2016): units keep their previous value at random."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..state import LSTMState, State, map_state
from .base import Wrapper


class Zoneout(Wrapper):
    r"""Each state unit keeps its previous value with probability ``p`` at each step:

    .. math::
        s_t = d_t \odot s_{t-1} + (1 - d_t) \odot \tilde s_t, \qquad d_t \sim \mathrm{Bernoulli}(p)

    and in eval mode its expectation ``s_t = p s_{t-1} + (1 - p) \tilde s_t``. For an LSTM the memory
    ``c`` may have its own rate ``cell_p`` (the paper uses 0.5 for c, 0.05 for h). When the wrapped
    cell's output is its state's ``h`` (LSTM, GRU, Elman without output map) the output is the zoned
    ``h``; otherwise the cell's output passes unchanged.

    >>> from rnnkit import GRUCell
    >>> cell = Zoneout(GRUCell(3, 4), p=0.1).eval()
    >>> h0 = cell.initial_state(2)
    >>> y, h1 = cell(torch.randn(2, 3), h0)
    >>> bool((y == h1).all())
    True
    """

    def __init__(self, cell: nn.Module, p: float = 0.1, *, cell_p: float | None = None):
        for name, q in (("p", p), ("cell_p", cell_p)):
            if q is not None and not 0.0 <= q < 1.0:
                raise ValueError(f"Zoneout {name} must be in [0, 1); received {q!r}")
        super().__init__(cell)
        self.p, self.cell_p = p, (p if cell_p is None else cell_p)

    def _rates(self, state: State) -> State:
        """A float rate per leaf, in the state's structure (floats stand in for leaves)."""
        if isinstance(state, LSTMState):
            return LSTMState(self.p, self.cell_p)
        if isinstance(state, tuple):
            parts = [self._rates(s) for s in state]
            return type(state)(*parts) if hasattr(state, "_fields") else tuple(parts)
        return self.p

    def _zone(self, new: Tensor, old: Tensor, p: float) -> Tensor:
        if p == 0:
            return new
        if not self.training:
            return p * old + (1 - p) * new
        d = torch.empty_like(new).bernoulli_(p)
        return d * old + (1 - d) * new

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, new = self.cell(x, state)
        out_is_h = y is (new.h if isinstance(new, LSTMState) else new)
        zoned = map_state(self._zone, new, state, self._rates(new))
        if out_is_h:
            y = zoned.h if isinstance(zoned, LSTMState) else zoned
        return y, zoned

