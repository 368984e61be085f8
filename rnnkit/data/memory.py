"""The long-range memory problems of the unitary-RNN papers (Arjovsky et al. 2016; Jing et al. 2017's
EUNN, which the ML@B slides cite): copy and adding, generated from a seeded generator.

Copy (lag T): 10 symbols from {1..8}, then T - 1 blanks (0), a delimiter (9) and 10 blanks; the
target is blank everywhere but the last 10 steps, which repeat the symbols. A model without memory
can only guess them: cross-entropy ``10 log 8 / (T + 20)`` per step. Adding (length T): steps of
(value ~ U(0, 1), marker); one marker in each half; the target is the sum of the two marked values.
Always answering 1 (the mean) gives MSE 1/6.

>>> g = torch.Generator().manual_seed(0)
>>> x, y = copy_batch(2, 5, g)
>>> tuple(x.shape), tuple(y.shape), int(x[0, 14]), bool((y[:, :15] == 0).all())
((2, 25), (2, 25), 9, True)
>>> x, y = adding_batch(3, 8, g)
>>> tuple(x.shape), tuple(y.shape), bool((x[:, :, 1].sum(1) == 2).all())
((3, 8, 2), (3, 1), True)
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["copy_batch", "adding_batch", "copy_baseline", "ADDING_BASELINE", "COPY_SYMBOLS"]

COPY_SYMBOLS = 10                     # 0 blank, 1..8 data, 9 delimiter
ADDING_BASELINE = 1 / 6


def copy_batch(B: int, T: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Token ids x (B, T + 20) and targets y (B, T + 20)."""
    data = torch.randint(1, 9, (B, 10), generator=g)
    x = torch.zeros(B, T + 20, dtype=torch.long)
    x[:, :10] = data
    x[:, T + 9] = 9                                                          # the delimiter
    y = torch.zeros(B, T + 20, dtype=torch.long)
    y[:, T + 10:] = data
    return x, y


def copy_baseline(T: int) -> float:
    """Cross-entropy per step of the best model without memory."""
    return 10 * math.log(8) / (T + 20)


def adding_batch(B: int, T: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Inputs (B, T, 2) of (value, marker) and targets (B, 1)."""
    values = torch.rand(B, T, generator=g)
    marks = torch.zeros(B, T)
    first = torch.randint(0, max(T // 2, 1), (B,), generator=g)
    second = torch.randint(T // 2, T, (B,), generator=g) if T > 1 else first
    marks[torch.arange(B), first] = 1
    marks[torch.arange(B), second] = 1
    return torch.stack([values, marks], -1), (values * marks).sum(1, keepdim=True)
