r"""Compiled Elman recurrence (``csrc/elman.cpp``) for ElmanCells with tanh or relu, alone (with or
without an output map) or inside variational Dropout or Zoneout: seeds 002 and 003's network,

.. math::
    h_t = \mathrm{act}(x_t W_{ih} + h_{t-1} W_{hh} + b), \qquad o_t = \mathrm{act}_o(h_t W_{ho} + b_o)

with the output map (which does not feed back) one product over all steps after the run.

>>> import rnnkit as rk
>>> from rnnkit import kernels
>>> cell, x = rk.ElmanCell(3, 4, output_size=2), torch.randn(2, 5, 3)
>>> y, h = rk.unroll(cell, x, lengths=[5, 2], reverse=True)
>>> with kernels.only_generic():
...     y_loop, h_loop = rk.unroll(cell, x, lengths=[5, 2], reverse=True)
>>> torch.allclose(y, y_loop, atol=1e-6) and bool((y[1, 2:] == 0).all())
True
"""
from __future__ import annotations

import torch
from torch import Tensor

from . import native
from .torch_rnn import output_map
from .wrapped import (batch_major_outputs, incoming, kernel_cell, rewrap, rows_product, time_major_inputs, unwrap,
                      zone_flags)

__all__ = ["NativeElmanRecurrence", "native_routed", "elman_unroll"]


class NativeElmanRecurrence(torch.autograd.Function):
    """Inputs: gx (T, B, H) = x W_ih + b, h0 (B, H), mask (T, B) float or None, W_hh (H, H), h_scale (B, H)
    or None, zone, relu. Returns y (T, B, H) and the final h."""

    @staticmethod
    def forward(ctx, gx, h0, mask, W_hh, h_scale, zone, relu):
        flags = (relu, *zone_flags(zone))
        y, h_all, h_new = native.load().elman_forward(gx, h0.contiguous(), mask, W_hh.contiguous(), h_scale, *flags)
        ctx.save_for_backward(h_all, h_new, mask, W_hh, h_scale)
        ctx.flags = flags
        return y, h_all[gx.shape[0]].clone()

    @staticmethod
    def backward(ctx, dy, dh_T):
        h_all, h_new, mask, W_hh, h_scale = ctx.saved_tensors
        T, B, H = h_new.shape
        dy, dh_T = incoming(dy, T, B, H, like=h_new), incoming(dh_T, B, H, like=h_new)
        da, dh0, d_scale = native.load().elman_backward(dy, dh_T, mask, h_new, W_hh.contiguous(), h_scale, *ctx.flags)
        dW = rows_product(h_all[:T], da)                                              # H_{prev}^T dA
        return da, dh0, None, dW, d_scale, None, None


def native_routed(cell) -> bool:
    """ElmanCells (tanh or relu) the compiled kernel computes: alone, or without an output map inside
    variational (or evaluating) Dropout or Zoneout."""
    inner = kernel_cell(cell)
    if inner is None or type(inner).__name__ != "ElmanCell" or inner.activation_name not in ("tanh", "relu"):
        return False
    return inner is cell or not inner.has_output_map


def elman_unroll(cell, x: Tensor, lengths: Tensor | None, state, reverse: bool):
    """``unroll`` for an ElmanCell (or one inside Dropout / Zoneout) through ``NativeElmanRecurrence``."""
    u = unwrap(cell, state)
    gx, mask = time_major_inputs(u, x, lengths, reverse)
    y, h = NativeElmanRecurrence.apply(gx, u.state, mask, u.cell.weight_hh, u.h_scale, u.zone,
                                       u.cell.activation_name == "relu")
    y = batch_major_outputs(u, y, lengths, reverse)
    if u.cell.has_output_map:
        y = output_map(u.cell, y, lengths)
    return y, rewrap(cell, state, h)
