"""Reading long sequences in windows: a random window of each long example in training, several evenly spaced
windows of it when it is scored.

A recurrent classifier pays for every step it reads, and backpropagation through time for every step of the
longest sequence in a batch. On texts of thousands of characters a fixed budget of steps then buys a few dozen
updates. Read in windows of ``W`` steps instead, each pass over the training set costs at most ``W`` steps an
example, so the same budget buys several passes; an example shorter than ``W`` is read whole, as before. A
window is drawn anew each time an example is read (a crop, as image classifiers crop), so over the passes a model
sees many parts of a long example. Scored, an example longer than ``W`` is read as up to ``k`` windows spread
evenly from its start to its end, and the task combines the windows' outputs (a classifier: the mean of their
log-probabilities).
"""
from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate

import torch
from torch import Tensor

EVAL_WINDOWS = 4             # windows an example is scored by: its start, its end and two between
MIN_WINDOW = 256             # shorter windows would cut most sentences, lines or motifs apart: below it, fewer passes


def window_length(lengths: list[int], budget: float, passes: int, minimum: int = MIN_WINDOW) -> int:
    """The window ``W`` (steps) that lets ``budget`` steps pay for ``passes`` passes over examples of ``lengths``
    when each is read as at most ``W`` of its steps: the largest W with ``passes * sum(min(l, W)) <= budget``,
    at least ``minimum``; 0 (read whole) when whole examples already fit.

    >>> window_length([100, 100], budget=1000, passes=3)             # 600 steps fit: whole
    0
    >>> window_length([5000, 5000, 100], budget=3 * 2100, passes=3, minimum=10)   # 2 * W + 100 <= 2100
    1000
    >>> window_length([5000] * 100, budget=3000, passes=3)           # the budget pays for less: the minimum
    256
    """
    total = sum(lengths)
    if passes * total <= budget:
        return 0
    per_pass = budget / passes
    ordered = sorted(lengths)
    prefix = list(accumulate(ordered, initial=0))                 # prefix[k]: the k shortest lengths' sum

    def read(W: int) -> int:                                      # sum(min(l, W)) over the examples
        k = bisect_right(ordered, W)
        return prefix[k] + W * (len(ordered) - k)

    lo, hi = 1, ordered[-1]                      # read(W) grows with W: the largest W that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if read(mid) <= per_pass:
            lo = mid
        else:
            hi = mid - 1
    return max(lo, minimum)


def random_window(x: Tensor, W: int, g: torch.Generator) -> Tensor:
    """``x`` (T, ...) itself when ``T <= W`` or W is 0, else ``x[o : o + W]`` at an offset o uniform in [0, T - W].

    >>> random_window(torch.arange(10), 4, torch.Generator().manual_seed(0)).tolist()
    [4, 5, 6, 7]
    """
    if not W or len(x) <= W:
        return x
    o = int(torch.randint(0, len(x) - W + 1, (1,), generator=g))
    return x[o:o + W]


def spread_windows(x: Tensor, W: int, k: int) -> list[Tensor]:
    """``x`` (T, ...) as up to ``k`` windows of ``W`` steps, the first at its start, the last at its end, the rest
    evenly between (fewer where ``ceil(T / W) < k``: windows need not overlap); ``[x]`` when ``T <= W`` or W is 0.

    >>> [w.tolist() for w in spread_windows(torch.arange(10), 4, 3)]
    [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    >>> [w.tolist() for w in spread_windows(torch.arange(6), 4, 3)]   # two windows cover it
    [[0, 1, 2, 3], [2, 3, 4, 5]]
    """
    T = len(x)
    if not W or T <= W:
        return [x]
    n = min(k, -(-T // W))
    starts = [round(i * (T - W) / (n - 1)) for i in range(n)] if n > 1 else [0]
    return [x[s:s + W] for s in starts]
