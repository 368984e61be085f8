"""``unroll`` for ``EUNNCell``: the input map for all steps in one product, the rotations' vectors built
once per sequence (not once per step), then the time loop: compiled (``csrc/eunn.cpp``, the backward
pass through time written out) or, without the compiled kernels, vectorised layer passes in PyTorch
ops that autograd differentiates.

The masking model as everywhere (``rnnkit.sequence``): past a sequence's length the state passes
through unchanged and the output is zero; ``reverse`` reverses inside each length.

>>> from rnnkit import EUNNCell
>>> cell = EUNNCell(3, 4)
>>> y, h = eunn_unroll(cell, torch.randn(2, 5, 3), None, cell.initial_state(2), False)
>>> tuple(y.shape), tuple(h.shape)
((2, 5, 8), (2, 8))
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..sequence import all_full, reverse_padded, step_mask
from . import ops  # noqa: F401  (registers torch.ops.rnnkit.eunn)

__all__ = ["eunn_unroll"]


def eunn_unroll(cell: nn.Module, x: Tensor, lengths: Tensor | None, state: Tensor, reverse: bool, *,
                compiled: bool = False):
    """Outputs (B, T, O), zero past each length, and the final state (B, 2N)."""
    B, T = x.shape[:2]
    if reverse:
        x = reverse_padded(x, lengths)
    gx = cell.project_input(x)                                                   # (B, T, 2N)
    coefficients = cell.rotations()
    live = None if all_full(lengths, T) else step_mask(lengths, T).unsqueeze(-1)  # (B, T, 1)
    if compiled:
        gx = gx.to(state.dtype)                                                  # autocast may narrow it
        v, w, diag = (c.to(gx.dtype) for c in coefficients)
        mask = None if live is None else live.squeeze(-1).to(gx.dtype)
        h = torch.ops.rnnkit.eunn(gx, state, mask, v, w, diag, cell.bias.to(gx.dtype), cell._partner,
                                  eps=cell.eps)                                  # (B, T, 2N)
        state = h[:, -1]                                                         # padding carried it there
    else:
        states = []
        for t in range(T):
            _, new = cell.step(gx[:, t], state, coefficients)
            state = new if live is None else torch.where(live[:, t], new, state)
            states.append(state)
        h = torch.stack(states, dim=1)                                           # (B, T, 2N)
    y = cell.out(h) if cell.out is not None else h
    if live is not None:
        y = y * live.to(y.dtype)
    if reverse:
        y = reverse_padded(y, lengths)
    return y, state
