"""A progress bar for long work: step, loss, throughput and ETA on one line (stderr)."""
from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """``update(step, loss=..., items=...)`` redraws ``[####....] step/total loss ... items/s ETA m:ss``.

    On a terminal it redraws in place; otherwise it prints a line every ``every`` seconds.
    The ETA takes the nearer of the step budget and the time budget.
    """

    def __init__(self, total: int, *, max_time: float | None = None, unit: str = "tok", stream=None,
                 every: float = 10.0, start_step: int = 0):
        self.total, self.max_time, self.unit = total, max_time, unit
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every, self.start, self.last_print = every, time.perf_counter(), 0.0
        self.start_step, self.items = start_step, 0

    def update(self, step: int, *, loss: float, items: int) -> None:
        self.items += items
        now = time.perf_counter()
        if not self.tty and now - self.last_print < self.every and step < self.total:
            return
        self.last_print = now
        elapsed = now - self.start
        done = max(step - self.start_step, 1)
        eta = elapsed / done * (self.total - step)
        if self.max_time is not None:
            eta = min(eta, self.max_time - elapsed)
        width = 24
        filled = int(width * step / max(self.total, 1))
        rate = self.items / max(elapsed, 1e-9)
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {step}/{self.total} loss {loss:.4f} "
                f"{rate:,.0f} {self.unit}/s ETA {_clock(eta)}")
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
