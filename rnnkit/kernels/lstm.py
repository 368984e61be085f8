r"""Fused LSTM with every option (peepholes, clipping, projection, no forget gate, layer norm):
a tight forward loop and an explicit backward pass through time (the Simple RNNs post and the RNN 1 notes).

The input projection ``gx = LN(x W_ih) + b`` is computed for all steps at once outside (by the
cell's ``project_input``, under autograd); ``LSTMRecurrence`` is the recurrent part. Its backward
walks the steps in reverse, carrying ``dh`` and ``dc`` (the RNN 1 notes: "backpropagation with respect to a
parameter W for one step ... from time step E to E-1"), and forms every weight gradient with one
matrix product over all steps (``dW_hh = H_{prev}^T dZ`` with (B*T)-row operands) instead of T small ones.

Per step, with ``z = h_{t-1} W_hh`` (layer-normalised when asked) and masks ``m_t`` from the lengths:

    a = gx_t + z;  i, f, u, o from a (peepholes on c_{t-1}, c_t);  c~ = f c_{t-1} + i u;  c = clip(c~)
    m = o tanh(LN(c));  h = clip(m W_proj);  state <- m_t ? (h, c) : (h_{t-1}, c_{t-1});  y_t = m_t h

Time runs on the first axis inside (T, B, .) so every per-step slice is contiguous.

Two implementations of that recurrence: the custom operator ``torch.ops.rnnkit.lstm_forward``
(``ops.py``) runs the loops in C++ (``csrc/lstm.cpp``; also the carried-state effects of variational
Dropout and Zoneout, and the input layer norm inside its node) and is what ``unroll`` uses;
``LSTMRecurrence`` is the same in PyTorch ops, the fallback where the compiled kernels cannot be built.

>>> import rnnkit as rk
>>> from rnnkit import kernels
>>> cell = rk.LSTMCell(3, 4, peepholes=True, proj_size=2, cell_clip=1.0)
>>> x = torch.randn(2, 5, 3)
>>> (y, s), (y_py, s_py) = [lstm_unroll(cell, x, None, cell.initial_state(2), False, compiled=c)
...                         for c in (kernels.path_for(cell, x) == "native-lstm", False)]
>>> torch.allclose(y, y_py, atol=1e-6) and torch.allclose(s.c, s_py.c, atol=1e-6)
True
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..cells import LSTMCell
from ..state import LSTMState
from .ops import lstm_recurrence
from .wrapped import batch_major_outputs, kernel_cell, rewrap, rows_product, time_major_inputs, unwrap


def _ln_forward(v: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Normalised v (no gain) and 1/sigma over the last axis, in one ATen kernel."""
    v_hat, _, rstd = torch.native_layer_norm(v, (v.shape[-1],), None, None, eps)
    return v_hat, rstd


def _ln_backward(d_hat: Tensor, v_hat: Tensor, rstd: Tensor) -> Tensor:
    """d loss / d v from d loss / d v_hat for v_hat = (v - mean) / sigma.

    ``native_layer_norm_backward`` wants the input and its mean; ``v_hat`` with mean 0 and the same
    ``rstd`` is an input with the same normalised value, so its gradient is the same.
    """
    zero = torch.zeros_like(rstd)
    return torch.ops.aten.native_layer_norm_backward(d_hat, v_hat / rstd, (v_hat.shape[-1],), zero, rstd, None, None,
                                                     (True, False, False))[0]


def _weight_grads(h_all, dz, dgx, z_hat, dn_all, n_hat, m_all, dhp_all, peep_grads) -> tuple:
    """Gradients of (W_hh, w_ci, w_cf, w_co, g_hh, g_c, b_c, W_proj), each one product or reduction over
    all T*B rows instead of T per-step ones; None for options not taken."""
    T = dgx.shape[0]
    W_hh = rows_product(h_all[:T], dz)                                               # H_{prev}^T dZ
    g_hh = (dgx * z_hat).sum((0, 1)) if z_hat is not None else None
    g_c = (dn_all * n_hat).sum((0, 1)) if n_hat is not None else None
    b_c = dn_all.sum((0, 1)) if dn_all is not None else None
    W_proj = rows_product(m_all, dhp_all) if m_all is not None else None
    w_ci, w_cf, w_co = peep_grads
    return W_hh, w_ci, w_cf, w_co, g_hh, g_c, b_c, W_proj


class LSTMRecurrence(torch.autograd.Function):
    """Inputs: gx (T, B, G*H), h0 (B, P), c0 (B, H), mask (T, B, 1) float or None, weights; see ``lstm_unroll``."""

    @staticmethod
    def forward(ctx, gx, h0, c0, mask, W_hh, w_ci, w_cf, w_co, g_hh, g_c, b_c, W_proj, opts):
        forget_gate, forget_bias, cell_clip, proj_clip, eps = opts
        T, B, GH = gx.shape
        H = c0.shape[1]
        peep, ln, proj = w_ci is not None, g_hh is not None, W_proj is not None
        gates = torch.empty_like(gx)                        # post-activation i, f, u, o   (T, B, G*H)
        c_all = gx.new_empty(T + 1, B, H)                   # c_{t} (state), c_all[0] = c0
        h_all = gx.new_empty(T + 1, B, h0.shape[1])         # h_{t} (state), h_all[0] = h0
        y = gx.new_empty(T, B, h0.shape[1])
        c_raw = gx.new_empty(T, B, H) if cell_clip is not None else None
        k_all = gx.new_empty(T, B, H)                       # tanh(LN(c))
        m_all = gx.new_empty(T, B, H) if proj else None     # pre-projection output
        hp_raw = gx.new_empty(T, B, h0.shape[1]) if (proj and proj_clip is not None) else None
        z_hat = gx.new_empty(T, B, GH) if ln else None
        z_rstd = gx.new_empty(T, B, 1) if ln else None
        n_hat = gx.new_empty(T, B, H) if ln else None
        n_rstd = gx.new_empty(T, B, 1) if ln else None
        c_all[0], h_all[0] = c0, h0
        for t in range(T):
            h_prev, c_prev = h_all[t], c_all[t]
            if ln:
                zh, rstd = _ln_forward(h_prev @ W_hh, eps)
                z_hat[t], z_rstd[t] = zh, rstd
                a = gx[t] + zh * g_hh
            else:
                a = torch.addmm(gx[t], h_prev, W_hh)
            g = gates[t]
            if forget_gate:
                a_i, a_f, a_u, a_o = a.split(H, dim=1)
                g_i, g_f, g_u, g_o = g.split(H, dim=1)
            else:
                a_i, a_u, a_o = a.split(H, dim=1)
                g_i, g_u, g_o = g.split(H, dim=1)
            torch.sigmoid(a_i + w_ci * c_prev if peep else a_i, out=g_i)
            torch.tanh(a_u, out=g_u)
            if forget_gate:
                torch.sigmoid(a_f + (w_cf * c_prev + forget_bias if peep else forget_bias), out=g_f)
                c = torch.addcmul(g_f * c_prev, g_i, g_u)
            else:
                c = torch.addcmul(c_prev, g_i, g_u)
            if cell_clip is not None:
                c_raw[t] = c
                c = c.clamp(-cell_clip, cell_clip)
            torch.sigmoid(a_o + w_co * c if peep else a_o, out=g_o)
            if ln:
                nh, rstd = _ln_forward(c, eps)
                n_hat[t], n_rstd[t] = nh, rstd
                k = torch.tanh(torch.addcmul(b_c, nh, g_c))
            else:
                k = torch.tanh(c)
            k_all[t] = k
            h = g_o * k
            if proj:
                m_all[t] = h
                h = h @ W_proj
                if proj_clip is not None:
                    hp_raw[t] = h
                    h = h.clamp(-proj_clip, proj_clip)
            if mask is not None:
                m = mask[t]
                y[t] = h * m
                h_all[t + 1] = torch.lerp(h_prev, h, m)
                c_all[t + 1] = torch.lerp(c_prev, c, m)
            else:
                y[t] = h
                h_all[t + 1], c_all[t + 1] = h, c
        ctx.save_for_backward(gates, c_all, h_all, c_raw, k_all, m_all, hp_raw, z_hat, z_rstd, n_hat, n_rstd,
                              mask, W_hh, w_ci, w_cf, w_co, g_hh, g_c, W_proj)
        ctx.opts = opts
        return y, h_all[T].clone(), c_all[T].clone()

    @staticmethod
    def backward(ctx, dy, dh_T, dc_T):
        (gates, c_all, h_all, c_raw, k_all, m_all, hp_raw, z_hat, z_rstd, n_hat, n_rstd,
         mask, W_hh, w_ci, w_cf, w_co, g_hh, g_c, W_proj) = ctx.saved_tensors
        forget_gate, forget_bias, cell_clip, proj_clip, eps = ctx.opts
        T, B, GH = gates.shape
        H = c_all.shape[2]
        peep, ln, proj = w_ci is not None, g_hh is not None, W_proj is not None
        dgx = torch.empty_like(gates)                       # d a_t = d gx_t                (T, B, G*H)
        dz_all = torch.empty_like(gates) if ln else dgx     # d (h_{t-1} W_hh)
        dhp_all = dy.new_empty(T, B, h_all.shape[2]) if proj else None
        dn_all = dy.new_empty(T, B, H) if ln else None      # d LN_c(c) output, for the gain and bias
        d_peep = dy.new_zeros(3, H) if peep else None
        dh = dh_T.clone() if dh_T is not None else dy.new_zeros(B, h_all.shape[2])
        dc = dc_T.clone() if dc_T is not None else dy.new_zeros(B, H)
        W_hh_T = W_hh.t()
        for t in range(T - 1, -1, -1):
            c_prev, c = c_all[t], c_all[t + 1]   # c_all[t+1] is the clipped c_t on every live row
            if mask is not None:
                m = mask[t]
                dh_s, dc_s = (dh + dy[t]) * m, dc * m
                dh_keep, dc_keep = dh * (1 - m), dc * (1 - m)
            else:
                dh_s, dc_s, dh_keep, dc_keep = dh + dy[t], dc, None, None
            if proj:
                if proj_clip is not None:
                    dh_s = dh_s * (hp_raw[t].abs() <= proj_clip)
                dhp_all[t] = dh_s
                dm = dh_s @ W_proj.t()
            else:
                dm = dh_s
            g = gates[t]
            if forget_gate:
                g_i, g_f, g_u, g_o = g.split(H, dim=1)
                d_i, d_f, d_u, d_o = dgx[t].split(H, dim=1)
            else:
                g_i, g_u, g_o = g.split(H, dim=1)
                d_i, d_u, d_o = dgx[t].split(H, dim=1)
            k = k_all[t]
            torch.mul(dm * k, g_o * (1 - g_o), out=d_o)                         # d a_o
            dk = dm * g_o * (1 - k * k)
            if ln:
                dn_all[t] = dk
                dc_out = _ln_backward(dk * g_c, n_hat[t], n_rstd[t])
            else:
                dc_out = dk
            dc_t = dc_s + dc_out
            if peep:
                dc_t = dc_t + d_o * w_co
            if cell_clip is not None:
                dc_t = dc_t * (c_raw[t].abs() <= cell_clip)
            torch.mul(dc_t * g_u, g_i * (1 - g_i), out=d_i)                      # d a_i
            torch.mul(dc_t * g_i, 1 - g_u * g_u, out=d_u)                        # d a_u
            dc_prev = dc_t * g_f if forget_gate else dc_t
            if forget_gate:
                torch.mul(dc_t * c_prev, g_f * (1 - g_f), out=d_f)               # d a_f
            if peep:
                dc_prev = dc_prev + d_i * w_ci + (d_f * w_cf if forget_gate else 0)
                d_peep[0] += (d_i * c_prev).sum(0)
                if forget_gate:
                    d_peep[1] += (d_f * c_prev).sum(0)
                d_peep[2] += (d_o * c).sum(0)
            if ln:
                dz = _ln_backward(dgx[t] * g_hh, z_hat[t], z_rstd[t])
                dz_all[t] = dz
            else:
                dz = dgx[t]
            dh_prev = dz @ W_hh_T
            dh = dh_prev + dh_keep if dh_keep is not None else dh_prev
            dc = dc_prev + dc_keep if dc_keep is not None else dc_prev
        peep_grads = (d_peep[0], d_peep[1] if forget_gate else None, d_peep[2]) if peep else (None, None, None)
        return (dgx, dh, dc, None, *_weight_grads(h_all, dz_all, dgx, z_hat, dn_all, n_hat, m_all, dhp_all, peep_grads),
                None)


def native_computes(cell) -> bool:
    """Cells the compiled kernel computes: any tanh LSTMCell, alone or inside a variational (or
    evaluating) Dropout or a Zoneout. Dropout with fresh masks per step while training stays generic."""
    inner = kernel_cell(cell)
    return type(inner) is LSTMCell and inner.spec().activation == "tanh"


def python_computes(cell) -> bool:
    """Cells the PyTorch ``LSTMRecurrence`` serves where the compiled kernels are not available: tanh
    LSTMCells without layer norm, whose per-step normalisations in PyTorch ops are slower than
    autograd's own LayerNorm nodes (benchmarks/README.md)."""
    return type(cell) is LSTMCell and cell.spec().activation == "tanh" and not cell.layer_norm


def lstm_unroll(cell, x: Tensor, lengths: Tensor | None, state, reverse: bool, *, compiled: bool = False):
    """``unroll`` for a tanh LSTMCell (``compiled``: also inside Dropout or Zoneout) through the
    compiled operator ``torch.ops.rnnkit.lstm_forward`` or, without ``compiled``, ``LSTMRecurrence``."""
    u = unwrap(cell, state)
    lstm, s0 = u.cell, u.state
    spec = lstm.spec()
    peep, ln = spec.peepholes, spec.layer_norm
    gx, mask = time_major_inputs(u, x, lengths, reverse, raw=compiled and ln)   # compiled: LN(x W_ih) + b inside
    weights = dict(W_hh=lstm.weight_hh,
                   w_ci=lstm.weight_ci if peep else None, w_cf=lstm.weight_cf if (peep and spec.forget_gate) else None,
                   w_co=lstm.weight_co if peep else None,
                   g_hh=lstm.ln_hh.weight if ln else None, g_c=lstm.ln_c.weight if ln else None,
                   b_c=lstm.ln_c.bias if ln else None, W_proj=lstm.weight_proj)
    eps = lstm.ln_c.eps if ln else 0.0
    if compiled:
        extra = dict(h_scale=u.h_scale, g_ih=lstm.ln_ih.weight if ln else None, b_ih=lstm.bias if ln else None)
        y, h, c = lstm_recurrence(gx, s0.h, s0.c, mask, {**weights, **extra}, forget_gate=spec.forget_gate,
                                  forget_bias=spec.forget_bias, cell_clip=spec.cell_clip, proj_clip=spec.proj_clip,
                                  eps=eps, zone=u.zone)
    else:
        mask = mask.unsqueeze(-1) if mask is not None else None                  # (T, B, 1)
        opts = (spec.forget_gate, spec.forget_bias, spec.cell_clip, spec.proj_clip, eps)
        y, h, c = LSTMRecurrence.apply(gx, s0.h, s0.c, mask, *weights.values(), opts)
    return batch_major_outputs(u, y, lengths, reverse), rewrap(cell, state, LSTMState(h, c))
