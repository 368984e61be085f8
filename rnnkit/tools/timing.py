"""Timing that survives a shared, noisy machine: implementations interleaved round by round in one
process (A B C A B C ...) after a warm-up call each, and the median of the rounds.

>>> medians = interleaved({"sum": lambda: sum(range(1000)), "max": lambda: max(range(1000))}, rounds=3)
>>> sorted(medians), all(v > 0 for v in medians.values())
(['max', 'sum'], True)
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

__all__ = ["interleaved"]


def interleaved(impls: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds per call of each implementation over ``rounds`` interleaved rounds."""
    times: dict[str, list[float]] = {k: [] for k in impls}
    for f in impls.values():
        f()
    for _ in range(rounds):
        for k, f in impls.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}
