r"""Compiled GRU recurrence for every GRUCell option (layer norm, reset before or after the product)
and for GRUs inside variational Dropout or Zoneout: the time loops of ``csrc/gru.cpp`` with an
explicit backward pass through time; weight gradients here, one product over all T*B rows each.

Seed 000's gated cell: ``h_t = z h_{t-1} + (1 - z) n`` with the reset gate inside ``n``; see
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

from . import native
from .wrapped import (batch_major_outputs, incoming, input_norm, input_norm_backward, kernel_cell, rewrap,
                      rows_product, time_major_inputs, unwrap, zone_flags)

__all__ = ["NativeGRURecurrence", "native_routed", "gru_unroll"]


class NativeGRURecurrence(torch.autograd.Function):
    """Inputs: gx (T, B, 3H) = LN(x W_ih) + b_ih, h0 (B, H), mask (T, B) float or None, W_hh (H, 3H),
    b_hh (3H,) or None, g_hh (3H,) (layer norm's gain) or None, h_scale (B, H) or None, zone, opts =
    (reset_after, eps). Returns y (T, B, H) and the final h."""

    @staticmethod
    def forward(ctx, gx, h0, mask, W_hh, b_hh, g_hh, h_scale, zone, g_ih, b_ih, opts):
        reset_after, eps = opts
        flags = (reset_after, eps, *zone_flags(zone))
        gx, x_hat, x_rstd = input_norm(gx, g_ih, b_ih, eps)
        y, h_all, gates, side, z_hat, z_rstd = native.load().gru_forward(
            gx, h0.contiguous(), mask, W_hh.contiguous(), b_hh, g_hh, h_scale, *flags)
        ctx.save_for_backward(h_all, gates, side, z_hat, z_rstd, mask, W_hh, g_hh, h_scale,
                              y if h_scale is not None else None, x_hat, x_rstd, g_ih)
        ctx.flags, ctx.has_bias, ctx.has_b_ih = flags, b_hh is not None, b_ih is not None
        return y, h_all[gx.shape[0]].clone()

    @staticmethod
    def backward(ctx, dy, dh_T):
        h_all, gates, side, z_hat, z_rstd, mask, W_hh, g_hh, h_scale, y, x_hat, x_rstd, g_ih = ctx.saved_tensors
        T, B, H3 = gates.shape
        H = H3 // 3
        dy, dh_T = incoming(dy, T, B, H, like=gates), incoming(dh_T, B, H, like=gates)
        dgx, da, dz, dh0, d_scale = native.load().gru_backward(
            dy, dh_T, mask, y, gates, h_all, side, z_hat, z_rstd, W_hh.contiguous(), g_hh, h_scale, *ctx.flags)
        h_prev = h_all[:T]
        if ctx.flags[0]:   # reset after: a = LN(h W_hh) g + b_hh
            dW = rows_product(h_prev, dz if dz is not None else da)
            db = da.sum((0, 1))
        else:              # reset before: [h W_rz, (r h) W_n] + b_hh
            d_an = dgx[..., 2 * H:]
            dW = torch.cat([rows_product(h_prev, da), rows_product(side, d_an)], dim=1)
            db = torch.cat([da.sum((0, 1)), d_an.sum((0, 1))])
        dg = (da * z_hat).sum((0, 1)) if z_hat is not None else None
        dgx, d_gih, d_bih = input_norm_backward(dgx, x_hat, x_rstd, g_ih, ctx.has_b_ih)
        return dgx, dh0, None, dW, db if ctx.has_bias else None, dg, d_scale, None, d_gih, d_bih, None


def native_routed(cell) -> bool:
    """GRUCells the compiled kernel computes: any GRUCell, alone or inside variational (or evaluating)
    Dropout or Zoneout (plain GRUs alone go to torch's own op instead; see ``kernels.path_for``)."""
    inner = kernel_cell(cell)
    return inner is not None and type(inner).__name__ == "GRUCell"


def gru_unroll(cell, x: Tensor, lengths: Tensor | None, state, reverse: bool):
    """``unroll`` for a GRUCell (or one inside Dropout / Zoneout) through ``NativeGRURecurrence``."""
    u = unwrap(cell, state)
    gru = u.cell
    ln = gru.layer_norm
    gx, mask = time_major_inputs(u, x, lengths, reverse, raw=ln)              # LN(x W_ih) + b_ih in the node
    g_hh = gru.ln_hh.weight if ln else None
    eps = gru.ln_hh.eps if ln else 0.0
    y, h = NativeGRURecurrence.apply(gx, u.state, mask, gru.weight_hh, gru.bias_hh, g_hh, u.h_scale, u.zone,
                                     gru.ln_ih.weight if ln else None, gru.bias_ih if ln else None,
                                     (gru.reset_after, eps))
    return batch_major_outputs(u, y, lengths, reverse), rewrap(cell, state, h)
