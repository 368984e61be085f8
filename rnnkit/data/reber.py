"""The Reber grammar and the embedded Reber grammar (the Theano notebook's ``reberGrammar``).

The grammar is a finite automaton over ``BTSXPVE``; every string starts with ``B`` and ends with
``E``. The Theano notebook trains an Elman network to predict the *set* of possible next symbols, one
independent sigmoid per symbol. The embedded grammar wraps a Reber string as ``B T <reber> T E`` or
``B P <reber> P E``: predicting the second-to-last symbol needs a memory of the second one, which an
Elman network lacks and an LSTM has (Hochreiter & Schmidhuber 1997, experiment 1).

>>> g = ReberGrammar(embedded=True, seed=0)
>>> s = g.sample()
>>> g.in_grammar(s), s[0], s[-1], s[1] == s[-2]
(True, 'B', 'E', True)
>>> g.in_grammar("BTSSXXTVVE"), g.in_grammar("BTSSXXTVVE".replace("V", "P", 1))
(False, False)
>>> ReberGrammar().in_grammar("BTSSXXTVVE")
True
"""
from __future__ import annotations

import random

import torch
from torch import Tensor

SYMBOLS = "BTSXPVE"

# node -> {symbol: next node}; node 0 follows the initial B, node 6 is the end.
GRAPH: dict[int, dict[str, int]] = {
    0: {"T": 1, "P": 5},
    1: {"S": 1, "X": 2},
    2: {"S": 3, "X": 5},
    3: {"E": 6},
    4: {"V": 3, "P": 2},
    5: {"V": 4, "T": 5},
}


class ReberGrammar:
    """Sample strings, check membership, and build next-symbol training pairs."""

    symbols = SYMBOLS

    def __init__(self, *, embedded: bool = False, seed: int | None = None):
        self.embedded = embedded
        self.rng = random.Random(seed)

    # -------------------------------------------------------------- strings
    def _reber(self) -> str:
        out, node = ["B"], 0
        while node != 6:
            symbol = self.rng.choice(sorted(GRAPH[node]))
            out.append(symbol)
            node = GRAPH[node][symbol]
        return "".join(out)

    def sample(self) -> str:
        """One string of the grammar."""
        inner = self._reber()
        if not self.embedded:
            return inner
        branch = self.rng.choice("TP")
        return f"B{branch}{inner}{branch}E"

    @staticmethod
    def _reber_allowed(s: str) -> list[str] | None:
        """For each prefix s[:k+1], the symbols allowed next (None when s leaves the grammar)."""
        if not s or s[0] != "B":
            return None
        allowed, node = ["TP"], 0
        for symbol in s[1:]:
            if node == 6 or symbol not in GRAPH[node]:
                return None
            node = GRAPH[node][symbol]
            allowed.append("".join(sorted(GRAPH[node])) if node != 6 else "")
        return allowed

    def allowed_next(self, s: str) -> list[str] | None:
        """Symbols allowed after each position of ``s`` (the last entry is ``""`` after E); None if ungrammatical."""
        if not self.embedded:
            return self._reber_allowed(s)
        if len(s) < 4 or s[0] != "B" or s[1] not in "TP" or s[-2:] != s[1] + "E":
            return None
        inner = self._reber_allowed(s[2:-2])
        if inner is None or inner[-1] != "":
            return None
        return ["TP", "B"] + inner[:-1] + [s[1], "E", ""]

    def in_grammar(self, s: str) -> bool:
        allowed = self.allowed_next(s)
        return allowed is not None and allowed[-1] == ""

    # -------------------------------------------------------------- tensors
    @staticmethod
    def one_hot(s: str) -> Tensor:
        """(T, 7) one-hot rows of the symbols of ``s``."""
        x = torch.zeros(len(s), len(SYMBOLS))
        x[torch.arange(len(s)), torch.tensor([SYMBOLS.index(c) for c in s])] = 1.0
        return x

    def example(self, s: str | None = None) -> tuple[Tensor, Tensor]:
        """The Theano notebook's pair: inputs (T-1, 7) one-hot symbols, targets (T-1, 7) multi-hot allowed next symbols."""
        s = s if s is not None else self.sample()
        allowed = self.allowed_next(s)
        x = self.one_hot(s[:-1])
        y = torch.zeros(len(s) - 1, len(SYMBOLS))
        for t, nxt in enumerate(allowed[:-1]):
            for c in nxt:
                y[t, SYMBOLS.index(c)] = 1.0
        return x, y
