"""TensorBoard event files of a training run, under ``RUN/tensorboard`` (``tensorboard --logdir runs``).

Scalars: the training loss, learning rate, gradient norm (before clipping) and throughput at every
training-loss row of ``metrics.csv``, every validation metric at every validation, and the test
metrics; images: the run's figures once it has finished (the learning curve, and whatever else the
task drew: a confusion matrix, attention maps). Needs the ``tensorboard`` package (``pip install
rnnkit[tensorboard]``); a run writes events when it is installed unless told not to (``--no-tensorboard``).

The events are written by this process, each record whole and at once (no writer thread, as
``SummaryWriter``'s has, which would print a traceback from its thread when the disk fills): a full
disk is the run's one-line ``DiskFull``. An event file is an append-only log of records that each
carry their own checksum, so it is the one file of a run not written to a temporary name and
renamed: a kill can leave at most a torn last record, which TensorBoard's readers skip. A resumed run
opens a new event file that starts with a purge from the first step it replays, so TensorBoard drops
what the killed process logged after its last checkpoint.
"""
from __future__ import annotations

import importlib.util
import io
import math
import os
import socket
import struct
import time
from pathlib import Path

from ..errors import DiskFull, UserError, disk_full_errno


def available() -> bool:
    """Whether the ``tensorboard`` package is installed."""
    return importlib.util.find_spec("tensorboard") is not None


def open_board(run_dir: Path, wanted: bool | None, *, purge_step: int | None = None) -> "Board | None":
    """A ``Board`` for ``run_dir``, or None: ``wanted`` False, or None (the default) without the package."""
    if wanted is False or (wanted is None and not available()):
        return None
    if not available():
        raise UserError("expected the tensorboard package for --tensorboard (pip install tensorboard); it is not "
                        "installed (--no-tensorboard trains without it)")
    return Board(Path(run_dir) / "tensorboard", purge_step=purge_step)


def png_size(png: bytes) -> tuple[int, int]:
    """(height, width) of a PNG image, from its header.

    >>> png_size(bytes.fromhex("89504e470d0a1a0a0000000d49484452") + struct.pack(">II", 640, 480))
    (480, 640)
    """
    width, height = struct.unpack(">II", png[16:24])
    return height, width


def _write(fd: int, data) -> int:
    """``os.write``, in one place (the tests fill the disk here)."""
    return os.write(fd, data)


class EventFile:
    """One event file: records appended whole, each written out before the call returns."""

    def __init__(self, folder: Path):
        from tensorboard.compat.proto.event_pb2 import Event

        # TensorBoard reads a folder's event files in the order of their names: by time to the microsecond, so a
        # resumed run's file (and the purge it starts with) comes after the killed run's
        now = time.time_ns() // 1000
        self.path = folder / (f"events.out.tfevents.{now // 10 ** 6:010d}.{now % 10 ** 6:06d}.{socket.gethostname()}."
                              f"{os.getpid()}.rnnkit")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as e:
            raise self._full(e, 0) from None
        self.add(Event(wall_time=time.time(), file_version="brain.Event:2"))

    def _full(self, e: OSError, size: int) -> Exception:
        code = disk_full_errno(e)
        return e if code is None else DiskFull(self.path, size or None, code=code)

    def add(self, event) -> None:
        from tensorboard.summary.writer.record_writer import RecordWriter

        buf = io.BytesIO()
        RecordWriter(buf).write(event.SerializeToString())       # length, checksums and the event: one record
        record = memoryview(buf.getvalue())
        try:
            while record:
                record = record[_write(self._fd, record):]
        except OSError as e:
            raise self._full(e, len(buf.getvalue())) from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Board:
    """What a training run shows in TensorBoard; the Trainer calls ``training`` and ``validation`` where it logs
    a row of ``metrics.csv``, and ``rnnkit train`` calls ``final`` once the selected weights are scored."""

    def __init__(self, folder: Path, *, purge_step: int | None = None):
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog

        self.file = EventFile(Path(folder))
        self.step = 0
        if purge_step is not None:     # TensorBoard drops the older files' events from this step on
            self.file.add(Event(wall_time=time.time(), step=purge_step,
                                session_log=SessionLog(status=SessionLog.START)))

    def scalars(self, step: int, values: dict) -> None:
        """Scalars by tag; a missing or non-finite value is left out."""
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        kept = [Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items()
                if isinstance(v, (int, float)) and math.isfinite(v)]
        self.step = max(self.step, step)
        if kept:
            self.file.add(Event(wall_time=time.time(), step=step, summary=Summary(value=kept)))

    def image(self, tag: str, png: bytes, step: int) -> None:
        """A PNG image as it is (TensorBoard decodes it)."""
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        height, width = png_size(png)
        image = Summary.Image(height=height, width=width, colorspace=4, encoded_image_string=png)
        self.file.add(Event(wall_time=time.time(), step=step, summary=Summary(value=[Summary.Value(tag=tag,
                                                                                                  image=image)])))

    # -- the run's hooks --------------------------------------------------------------
    def training(self, row: dict, *, grad_norm: float, throughput: float, unit: str) -> None:
        """A training-loss row of ``metrics.csv``: its loss and rate, the mean gradient norm and the throughput
        (``unit`` per second) since the row before."""
        self.scalars(row["step"], {"train/loss": row["train_loss"], "train/learning_rate": row["lr"],
                                   "train/grad_norm": grad_norm, f"train/{unit}_per_s": throughput})

    def validation(self, step: int, metrics: dict) -> None:
        self.scalars(step, {f"valid/{k}": v for k, v in metrics.items()})

    def final(self, run_dir: Path, *, test: dict | None, figures: list[Path]) -> None:
        """The test metrics (scored once, with the selected weights) and the run's figures: every PNG in the run
        folder (the learning curve, a confusion matrix) and the task's ``figures``."""
        if test:
            self.scalars(self.step, {f"test/{k}": v for k, v in test.items()})
        for path in sorted({*Path(run_dir).glob("*.png"), *map(Path, figures)}):
            if path.is_file():
                self.image(f"figures/{path.stem}", path.read_bytes(), self.step)

    def close(self) -> None:
        self.file.close()
