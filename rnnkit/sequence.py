"""Padded batches of variable-length sequences: the one masking model every runner and kernel shares.

A batch is ``x`` (B, T, ...) with ``lengths`` (B,): sequence b occupies ``x[b, :lengths[b]]`` and the
rest is padding. "An introduction to recurrent neural networks: Simple RNNs" groups sequences of
equal length into a minibatch; padding with lengths lets one batch hold any lengths, provided
every runner treats the padding the same way:

- past a sequence's length its state passes through unchanged and its output is zero;
- reversal happens inside each sequence's own length, never into its padding.

This module is a leaf (it imports only torch and ``state``): runners and kernels both build on it.

>>> x = torch.tensor([[1, 2, 3, 0], [4, 5, 6, 7]])
>>> lengths = check_lengths([3, 4], 2, 4, x.device)
>>> reverse_padded(x, lengths).tolist(), step_mask(lengths, 4).int().tolist()
([[3, 2, 1, 0], [7, 6, 5, 4]], [[1, 1, 1, 0], [1, 1, 1, 1]])
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .state import State, describe

__all__ = ["check_sequence_input", "check_lengths", "check_state", "reverse_padded", "step_mask", "time_mask",
           "all_full", "last_output"]


def check_sequence_input(cell: nn.Module, x: Tensor) -> tuple[int, int]:
    """A batch of sequences for ``cell``: (B, T, D) float, or (B, T) token ids for token cells. Returns (B, T)."""
    name = type(cell).__name__
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a tensor of sequences; received {type(x).__name__}")
    if getattr(cell, "takes_tokens", False):
        if x.dim() != 2:
            raise ValueError(f"{name} reads token ids of shape (B, T); received shape {tuple(x.shape)}")
        if x.is_floating_point() or x.is_complex():
            raise TypeError(f"{name} reads integer token ids; received {x.dtype}")
        # the range is data, not shape: a traced graph (torch.export, ONNX) cannot branch on it
        if hasattr(cell, "num_embeddings") and x.numel() and not torch.compiler.is_compiling():
            lo, hi = int(x.min()), int(x.max())
            if lo < 0 or hi >= cell.num_embeddings:
                raise ValueError(f"{name} expects token ids in [0, {cell.num_embeddings}); received ids in [{lo}, {hi}]")
        return x.shape[0], x.shape[1]
    if x.dim() != 3:
        raise ValueError(f"{name} expects input of shape (B, T, {cell.input_size}); received shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} expects floating-point input; received {x.dtype} "
                        f"(token ids need an Embedding cell)")
    if x.shape[2] != cell.input_size:
        raise ValueError(f"{name} expects input of shape (B, T, {cell.input_size}); received shape {tuple(x.shape)} "
                         f"(input size {x.shape[2]})")
    return x.shape[0], x.shape[1]


def check_lengths(lengths, batch_size: int, steps: int, device) -> Tensor | None:
    """Lengths (B,) of ints in [0, T], on any device; returned as int64 on ``device`` (None stays None)."""
    if lengths is None:
        return None
    if not isinstance(lengths, Tensor):
        lengths = torch.as_tensor(lengths)
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise TypeError(f"lengths must be integers; received {lengths.dtype}")
    if lengths.shape != (batch_size,):
        raise ValueError(f"lengths must have shape ({batch_size},), one per sequence; received {tuple(lengths.shape)}")
    if batch_size:
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 0:
            raise ValueError(f"lengths must be >= 0; received a length of {lo}")
        if hi > steps:
            raise ValueError(f"lengths must be <= T={steps}, the padded length; received a length of {hi}")
    return lengths.to(device=device, dtype=torch.long)


def check_state(cell: nn.Module, state: State, reference: State) -> None:
    """A user's initial state must match the structure and shapes of ``cell.initial_state(B)``."""
    def same(a, b) -> bool:
        if a is None or b is None:
            return a is None and b is None
        if isinstance(b, Tensor):
            return isinstance(a, Tensor) and a.shape == b.shape
        return isinstance(a, tuple) and len(a) == len(b) and all(same(p, q) for p, q in zip(a, b))

    if not same(state, reference):
        raise ValueError(f"{type(cell).__name__} expects an initial state shaped {describe(reference)}; "
                         f"received {describe(state)}")


def all_full(lengths: Tensor | None, steps: int) -> bool:
    """True when no sequence has padding (lengths None or all equal to T)."""
    return lengths is None or bool((lengths == steps).all())


def step_mask(lengths: Tensor, steps: int) -> Tensor:
    """(B, T) bool: True at the steps inside each sequence's length."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def time_mask(lengths: Tensor | None, steps: int, dtype: torch.dtype) -> Tensor | None:
    """(T, B) 0/1 of ``dtype``, time first as the compiled kernels read it; None when nothing is padded."""
    if all_full(lengths, steps):
        return None
    return step_mask(lengths, steps).t().to(dtype).contiguous()


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of ``x`` (B, T, ...) inside its own length; padding stays put.

    >>> reverse_padded(torch.tensor([[1, 2, 3, 0], [4, 5, 6, 7]]), torch.tensor([3, 4])).tolist()
    [[3, 2, 1, 0], [7, 6, 5, 4]]
    """
    if lengths is None:
        return x.flip(1)
    T = x.shape[1]
    t = torch.arange(T, device=x.device).unsqueeze(0)                       # (1, T)
    index = torch.where(t < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - t, t)  # (B, T)
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


def last_output(outputs: Tensor, lengths: Tensor | None) -> Tensor:
    """The many-to-one map ``f*(a_1..a_n) = b_n`` ("Recurrent Neural Networks", J.-M. Albert): each
    sequence's output at its last step (zero if empty).

    >>> last_output(torch.arange(6.).view(2, 3, 1), torch.tensor([2, 0])).tolist()
    [[1.0], [0.0]]
    """
    B, T = outputs.shape[:2]
    if lengths is None:
        return outputs[:, -1] if T else outputs.new_zeros(B, *outputs.shape[2:])
    lengths = lengths.to(outputs.device)
    index = (lengths - 1).clamp(min=0).view(B, 1, *([1] * (outputs.dim() - 2)))
    index = index.expand(B, 1, *outputs.shape[2:])
    last = outputs.gather(1, index).squeeze(1) if T else outputs.new_zeros(B, *outputs.shape[2:])
    return last * (lengths > 0).view(B, *([1] * (last.dim() - 1))).to(last.dtype)
