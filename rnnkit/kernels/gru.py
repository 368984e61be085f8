r"""Compiled GRU recurrence for every GRUCell option (layer norm, reset before or after the product)
and for GRUs inside variational Dropout or Zoneout: the time loops of ``csrc/gru.cpp`` with an
explicit backward pass through time; weight gradients here, one product over all T*B rows each.

Albert's notes' gated cell: ``h_t = z h_{t-1} + (1 - z) n`` with the reset gate inside ``n``; see
``rnnkit.GRUCell`` for the equations of both reset placements.

>>> import rnnkit as rk
>>> from rnnkit import kernels
>>> cell, x = rk.GRUCell(3, 4, layer_norm=True), torch.randn(2, 5, 3)
>>> kernels.path_for(cell, x) in ("native-gru", "generic")   # generic where no compiler is found
True
>>> y, h = rk.unroll(cell, x, lengths=[5, 2])
>>> with kernels.only_generic():
...     y_loop, h_loop = rk.unroll(cell, x, lengths=[5, 2])
>>> torch.allclose(y, y_loop, atol=1e-6) and torch.allclose(h, h_loop, atol=1e-6)
True
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..cells import GRUCell
from .ops import gru_recurrence
from .wrapped import batch_major_outputs, kernel_cell, rewrap, time_major_inputs, unwrap

__all__ = ["native_computes", "gru_unroll"]


def native_computes(cell) -> bool:
    """GRUCells the compiled kernel computes: any GRUCell, alone or inside a variational (or evaluating)
    Dropout or a Zoneout."""
    return type(kernel_cell(cell)) is GRUCell


def gru_unroll(cell, x: Tensor, lengths: Tensor | None, state, reverse: bool):
    """``unroll`` for a GRUCell (or one inside Dropout / Zoneout) through ``torch.ops.rnnkit.gru_forward``."""
    u = unwrap(cell, state)
    gru = u.cell
    ln = gru.layer_norm
    gx, mask = time_major_inputs(u, x, lengths, reverse, raw=ln)              # LN(x W_ih) + b_ih in the operator
    y, h = gru_recurrence(gx, u.state, mask, gru.weight_hh, b_hh=gru.bias_hh, g_hh=gru.ln_hh.weight if ln else None,
                          h_scale=u.h_scale, g_ih=gru.ln_ih.weight if ln else None,
                          b_ih=gru.bias_ih if ln else None, reset_after=gru.reset_after,
                          eps=gru.ln_hh.eps if ln else 0.0, zone=u.zone)
    return batch_major_outputs(u, y, lengths, reverse), rewrap(cell, state, h)
