"""A training batch and where its rows go: to a rank's share of a global batch, and to a device.

>>> b = Batch(torch.arange(8).view(4, 2), None, (torch.arange(4), torch.ones(4)))
>>> shard_batch(b, slice(2, 4), 4).y[0].tolist()
[2, 3]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["Batch", "shard_batch", "to_device"]


@dataclass
class Batch:
    x: Tensor
    lengths: Tensor | None
    y: Any


def shard_batch(batch, rows: slice, batch_size: int):
    """This rank's rows of a global batch: every tensor (or tuple of tensors) whose first axis is the batch."""
    def cut(v):
        if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == batch_size:
            return v[rows]
        if isinstance(v, tuple):
            return tuple(cut(u) for u in v)
        return v
    if rows == slice(0, batch_size):
        return batch
    return type(batch)(*(cut(getattr(batch, f)) for f in batch.__dataclass_fields__))


def to_device(batch, device: torch.device):
    """A batch's tensors on ``device`` (the batch itself when they are there already)."""
    def move(v):
        if isinstance(v, torch.Tensor):
            return v.to(device, non_blocking=True)
        if isinstance(v, tuple):
            return tuple(move(u) for u in v)
        return v
    if device.type == "cpu":
        return batch
    return type(batch)(*(move(getattr(batch, f)) for f in batch.__dataclass_fields__))
