"""Where a run computes: its device, its precision, and its place among processes (torch.distributed).

``Placement.create(device, precision)`` reads what torchrun sets (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR``...) and joins the process group: gloo on the CPU, nccl on CUDA,
chosen by the device. One process without torchrun is world size 1 and needs no process group.

The global batch of step k is drawn from (seed, k) as in one process; ``Placement.shard`` gives
each rank its equal share of the rows, so the run does not depend on the number of processes beyond
float summation order (DistributedDataParallel averages the gradients of equal shares: the gradient
of the mean over the whole batch).

>>> p = Placement.create("cpu", "fp32")
>>> p.world_size, p.rank, p.is_main, str(p.device), p.shard(8)
(1, 0, True, 'cpu', slice(0, 8, None))
"""
from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import UserError

__all__ = ["Placement", "resolve_device", "PRECISIONS"]

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise UserError(f"--device must be auto, cpu, cuda, cuda:N or mps; received {name!r}") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"--device must be auto, cpu, cuda, cuda:N or mps; received {name!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"expected a CUDA GPU for --device {name}; torch sees none here (use --device cpu)")
        index = device.index if device.index is not None else local_rank
        if index >= torch.cuda.device_count():
            raise UserError(f"expected --device {name} to name one of {torch.cuda.device_count()} GPU(s)")
        device = torch.device("cuda", index)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError("expected an Apple GPU for --device mps; torch sees none here (use --device cpu)")
    return device


@dataclass
class Placement:
    device: torch.device
    precision: str = "fp32"
    rank: int = 0
    world_size: int = 1

    @classmethod
    def create(cls, device: str = "auto", precision: str = "fp32", *, timeout_s: float = 1800.0) -> "Placement":
        """``timeout_s`` bounds a collective: the other ranks wait in one while rank 0 validates, so it must
        outlast a long validation; a rank that dies is noticed at once (its connections close) and torchrun
        stops the job, so the timeout is not what prevents a hang."""
        if precision not in PRECISIONS:
            raise UserError(f"--precision must be fp32, bf16 or fp16; received {precision!r}")
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
        place = cls(resolve_device(device, local), precision, rank, world)
        if precision == "fp16" and place.device.type == "cpu" and not _cpu_supports(torch.float16):
            raise UserError("expected --precision bf16 or fp32 on this CPU; its torch has no float16 autocast")
        if world > 1 and not dist.is_initialized():
            backend = "nccl" if place.device.type == "cuda" else "gloo"
            if place.device.type == "cuda":
                torch.cuda.set_device(place.device)
            dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
        return place

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, n: int) -> slice:
        """This rank's rows of a global batch of ``n`` (equal shares; ``check_batch`` makes sure)."""
        per = n // self.world_size
        return slice(self.rank * per, (self.rank + 1) * per)

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world_size:
            raise UserError(f"expected --batch-size divisible by the {self.world_size} processes; received "
                            f"{batch_size}")

    def autocast(self):
        """The forward pass in the run's precision (weights stay float32)."""
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def grad_scaler(self) -> "torch.amp.GradScaler | None":
        return torch.amp.GradScaler(self.device.type) if self.precision == "fp16" else None

    # ------------------------------------------------------------------ collectives (no-ops alone)
    def all_true(self, flag: bool) -> bool:
        """True when ``flag`` is true on every rank (one all-reduce); every rank gets the same answer."""
        if not self.distributed:
            return flag
        t = torch.tensor([0.0 if flag else 1.0], device=self._comm_device())
        dist.all_reduce(t)
        return bool(t.item() == 0)

    def mean(self, value: float) -> float:
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def broadcast_flag(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank."""
        if not self.distributed:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self._comm_device())
        dist.broadcast(t, 0)
        return bool(t.item())

    def gather_rows(self, t: torch.Tensor) -> torch.Tensor:
        """Every rank's rows of ``t`` (B_local, ...), concatenated in rank order: (B_global, ...)."""
        if not self.distributed:
            return t
        parts = [torch.empty_like(t) for _ in range(self.world_size)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def _cpu_supports(dtype: torch.dtype) -> bool:
    try:
        with torch.autocast("cpu", dtype=dtype):
            torch.ones(2, 2) @ torch.ones(2, 2)
        return True
    except (RuntimeError, AssertionError):
        return False
