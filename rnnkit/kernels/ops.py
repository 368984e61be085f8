r"""The compiled recurrences as PyTorch custom operators: ``torch.ops.rnnkit.*``.

Each recurrence is one operator pair, ``<cell>_forward`` and ``<cell>_backward``, declared with
``torch.library.custom_op`` (named, typed arguments; option flags keyword-only), a fake
implementation that gives only output shapes (so ``torch.compile`` and ``torch.export`` trace
through them without running them), and the backward registered as the forward's autograd formula.
Weight gradients are one product over all T*B rows each, outside the kernel, as in cuDNN's and
haste's split of the LSTM backward pass ("backpropagation with respect to a parameter W for one step
... from time step E to E-1", Alex's notes "Recurrent Neural Networks 1").

Inputs are time-major: ``gx`` (T, B, G*H) is the input's share of the gates for every step (or
``x W_ih`` when the kernel applies the input layer norm itself, ``g_ih`` given), ``mask`` (T, B)
is 1 inside each sequence's length. An option not taken is ``None`` going in and an empty tensor
coming out (an operator's outputs are always tensors). The C++ entry points check device, dtype
and contiguity of every tensor they read.

>>> from rnnkit.kernels import native
>>> if native.load() is not None:
...     T, B, H = 4, 2, 3
...     out = torch.ops.rnnkit.gru_forward(torch.randn(T, B, 3 * H), torch.zeros(B, H), None,
...                                        torch.randn(H, 3 * H), None, None, None, None, None,
...                                        reset_after=True, eps=1e-5, zone_on=False, zone_train=False,
...                                        zone_p=0.0, zone_pc=0.0, zone_seed=0)
...     print(tuple(out[0].shape), tuple(out[1].shape))
... else:
...     print((4, 2, 3), (2, 3))
(4, 2, 3) (2, 3)
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import native
from .wrapped import rows_product as _rows_product

__all__ = ["lstm_recurrence", "gru_recurrence", "elman_recurrence", "linear_scan"]

_ZONE = dict(zone_on=bool, zone_train=bool, zone_p=float, zone_pc=float, zone_seed=int)


def _out(t: Tensor | None, like: Tensor) -> Tensor:
    """An operator output: the tensor, or an empty one for an option not taken."""
    return like.new_empty(0) if t is None else t


def _opt(t: Tensor) -> Tensor | None:
    """An operator output back to an optional input: None when empty (no option is ever empty:
    the kernels only run for B >= 1 and T >= 1)."""
    return t if t.numel() else None


def _zone(kw: dict) -> tuple:
    return kw["zone_on"], kw["zone_train"], kw["zone_p"], kw["zone_pc"], kw["zone_seed"]


def _module():
    module = native.load()
    if module is None:
        raise RuntimeError(f"rnnkit's compiled kernels are not available ({native.status()})")
    return module


def _c(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.contiguous()


def _incoming(grad: Tensor | None, like: Tensor) -> Tensor:
    return like.new_zeros(like.shape) if grad is None else grad.contiguous()


def _no_zero_grads(ctx) -> None:
    """Outputs that receive no gradient (the saved buffers, often h_T) reach the backward as None, not as
    zero tensors of their size: filling those would write 3 x 64 MB per pass for the layer-norm LSTM at
    16x512x512 (benchmarks/README.md)."""
    ctx.set_materialize_grads(False)


@torch.library.custom_op("rnnkit::input_norm_backward", mutates_args=())
def input_norm_backward(dgx: Tensor, x_hat: Tensor, x_rstd: Tensor, g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """d xw, d g, d b through the input layer norm ``gx = LN(xw) g + b`` that the forward operators apply."""
    return tuple(_module().input_norm_backward(dgx.clone(memory_format=torch.contiguous_format), x_hat, x_rstd,
                                               g.contiguous()))


@input_norm_backward.register_fake
def _(dgx, x_hat, x_rstd, g):
    return torch.empty_like(dgx, memory_format=torch.contiguous_format), g.new_empty(g.shape), g.new_empty(g.shape)


def _input_norm_backward(dgx, x_hat, x_rstd, g_ih, has_b_ih):
    """d xw, d g_ih, d b_ih through the input layer norm (identity without it)."""
    if g_ih is None:
        return dgx, None, None
    d_xw, dg, db = torch.ops.rnnkit.input_norm_backward(dgx, x_hat, x_rstd, g_ih)
    return d_xw, dg, (db if has_b_ih else None)


# ------------------------------------------------------------------------------------------- LSTM

@torch.library.custom_op("rnnkit::lstm_forward", mutates_args=())
def lstm_forward(gx: Tensor, h0: Tensor, c0: Tensor, mask: Optional[Tensor], W_hh: Tensor, w_ci: Optional[Tensor],
                 w_cf: Optional[Tensor], w_co: Optional[Tensor], g_hh: Optional[Tensor], g_c: Optional[Tensor],
                 b_c: Optional[Tensor], W_proj: Optional[Tensor], h_scale: Optional[Tensor], g_ih: Optional[Tensor],
                 b_ih: Optional[Tensor], *, forget_gate: bool, forget_bias: float, cell_clip: float, proj_clip: float,
                 eps: float, zone_on: bool, zone_train: bool, zone_p: float, zone_pc: float, zone_seed: int
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor,
                            Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(y, h_T, c_T) and what the backward pass reads: h_all, c_all, gates, k_all, c_new, c_raw, m_all,
    hp_raw, z_hat, z_rstd, n_hat, n_rstd, x_hat, x_rstd."""
    m = _module()
    x_hat = x_rstd = None
    if g_ih is not None:
        gx, x_hat, x_rstd = m.input_norm_forward(gx.contiguous(), g_ih.contiguous(), _c(b_ih), eps)
    out = m.lstm_forward(gx.contiguous(), h0.contiguous(), c0.contiguous(), _c(mask), W_hh.contiguous(), _c(w_ci),
                         _c(w_cf), _c(w_co), _c(g_hh), _c(g_c), _c(b_c), _c(W_proj), _c(h_scale), forget_gate,
                         forget_bias, cell_clip, proj_clip, eps, zone_on, zone_train, zone_p, zone_pc, zone_seed)
    y, h_all, c_all = out[:3]
    T = gx.shape[0]
    return (y, h_all[T].clone(), c_all[T].clone(), *(_out(t, gx) for t in out[1:]), _out(x_hat, gx),
            _out(x_rstd, gx))


@lstm_forward.register_fake
def _(gx, h0, c0, mask, W_hh, w_ci, w_cf, w_co, g_hh, g_c, b_c, W_proj, h_scale, g_ih, b_ih, *, forget_gate,
      forget_bias, cell_clip, proj_clip, eps, zone_on, zone_train, zone_p, zone_pc, zone_seed):
    T, B, GH = gx.shape
    P, H = h0.shape[1], c0.shape[1]
    ln, proj = g_hh is not None, W_proj is not None
    e = gx.new_empty(0)

    def maybe(on, *shape):
        return gx.new_empty(shape) if on else e

    return (gx.new_empty(T, B, P), gx.new_empty(B, P), gx.new_empty(B, H), gx.new_empty(T + 1, B, P),
            gx.new_empty(T + 1, B, H), gx.new_empty(T, B, GH), gx.new_empty(T, B, H), maybe(zone_on, T, B, H),
            maybe(cell_clip > 0, T, B, H), maybe(proj, T, B, H), maybe(proj and proj_clip > 0, T, B, P),
            maybe(ln, T, B, GH), maybe(ln, T, B), maybe(ln, T, B, H), maybe(ln, T, B),
            maybe(g_ih is not None, T, B, GH), maybe(g_ih is not None, T, B))


@torch.library.custom_op("rnnkit::lstm_backward", mutates_args=())
def lstm_backward(dy: Tensor, dh_T: Tensor, dc_T: Tensor, mask: Optional[Tensor], y: Optional[Tensor], gates: Tensor,
                  h_all: Tensor, c_all: Tensor, k_all: Tensor, c_new: Optional[Tensor], c_raw: Optional[Tensor],
                  hp_raw: Optional[Tensor], z_hat: Optional[Tensor], z_rstd: Optional[Tensor],
                  n_hat: Optional[Tensor], n_rstd: Optional[Tensor], W_hh: Tensor, w_ci: Optional[Tensor],
                  w_cf: Optional[Tensor], w_co: Optional[Tensor], g_hh: Optional[Tensor], g_c: Optional[Tensor],
                  W_proj: Optional[Tensor], h_scale: Optional[Tensor], x_hat: Optional[Tensor],
                  x_rstd: Optional[Tensor], g_ih: Optional[Tensor], *, forget_gate: bool, forget_bias: float,
                  cell_clip: float, proj_clip: float, eps: float, zone_on: bool, zone_train: bool, zone_p: float,
                  zone_pc: float, zone_seed: int
                  ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """d gx (through the input layer norm when ``g_ih`` is given: d xw), d (h W_hh) [layer norm], d h_proj
    [projection], d h0, d c0, d h_scale, d g_hh, d (g_c, b_c), d (w_ci, w_cf, w_co), d g_ih, d b_ih; empty
    where an option is not taken."""
    m = _module()
    out = m.lstm_backward(
        dy.contiguous(), dh_T.contiguous(), dc_T.contiguous(), _c(mask), _c(y), gates, h_all, c_all, k_all, c_new,
        c_raw, hp_raw, z_hat, z_rstd, n_hat, n_rstd, W_hh.contiguous(), _c(w_ci), _c(w_cf), _c(w_co), _c(g_hh),
        _c(g_c), _c(W_proj), _c(h_scale), forget_gate, forget_bias, cell_clip, proj_clip, eps, zone_on, zone_train,
        zone_p, zone_pc, zone_seed)
    d_gih = d_bih = None
    if g_ih is not None:       # the kernel's own d gx, overwritten in place with d xw
        out[0], d_gih, d_bih = m.input_norm_backward(out[0], x_hat, x_rstd, g_ih.contiguous())
    return (*(_out(t, gates) for t in out), _out(d_gih, gates), _out(d_bih, gates))


@lstm_backward.register_fake
def _(dy, dh_T, dc_T, mask, y, gates, h_all, c_all, k_all, c_new, c_raw, hp_raw, z_hat, z_rstd, n_hat, n_rstd, W_hh,
      w_ci, w_cf, w_co, g_hh, g_c, W_proj, h_scale, x_hat, x_rstd, g_ih, **_):
    T, B, GH = gates.shape
    P, H = h_all.shape[2], c_all.shape[2]
    ln, e = g_hh is not None, gates.new_empty(0)

    def maybe(on, *shape):
        return gates.new_empty(shape) if on else e

    return (gates.new_empty(T, B, GH), maybe(ln, T, B, GH), maybe(W_proj is not None, T, B, P), gates.new_empty(B, P),
            gates.new_empty(B, H), maybe(h_scale is not None, B, P), maybe(ln, GH), maybe(ln, 2, H),
            maybe(w_ci is not None, 3, H), maybe(g_ih is not None, GH), maybe(g_ih is not None, GH))


_LSTM_INPUTS = ("gx", "h0", "c0", "mask", "W_hh", "w_ci", "w_cf", "w_co", "g_hh", "g_c", "b_c", "W_proj", "h_scale",
                "g_ih", "b_ih")


def _lstm_setup(ctx, inputs, keyword_only_inputs, output):
    (_, _, _, mask, W_hh, w_ci, w_cf, w_co, g_hh, g_c, _, W_proj, h_scale, g_ih, b_ih) = inputs
    y, _, _, *saved = output
    ctx.mark_non_differentiable(*saved)
    _no_zero_grads(ctx)
    ctx.save_for_backward(y if h_scale is not None else None, *saved, mask, W_hh, w_ci, w_cf, w_co, g_hh, g_c, W_proj,
                          h_scale, g_ih)
    ctx.kw, ctx.has_b_ih = keyword_only_inputs, b_ih is not None


def _lstm_grad(ctx, dy, dh_T, dc_T, *_):
    (y, h_all, c_all, gates, k_all, c_new, c_raw, m_all, hp_raw, z_hat, z_rstd, n_hat, n_rstd, x_hat, x_rstd,
     mask, W_hh, w_ci, w_cf, w_co, g_hh, g_c, W_proj, h_scale, g_ih) = ctx.saved_tensors
    T = gates.shape[0]
    dgx, dz_all, dhp_all, dh0, dc0, d_scale, d_ghh, d_ln_c, d_peep, d_gih, d_bih = torch.ops.rnnkit.lstm_backward(
        _incoming(dy, h_all[1:]), _incoming(dh_T, h_all[0]), _incoming(dc_T, c_all[0]), mask, y, gates, h_all, c_all,
        k_all, _opt(c_new), _opt(c_raw), _opt(hp_raw), _opt(z_hat), _opt(z_rstd), _opt(n_hat), _opt(n_rstd), W_hh,
        w_ci, w_cf, w_co, g_hh, g_c, W_proj, h_scale, _opt(x_hat), _opt(x_rstd), g_ih, **ctx.kw)
    ln, peep, proj = g_hh is not None, w_ci is not None, W_proj is not None
    dW_hh = _rows_product(h_all[:T], dz_all if ln else dgx)                            # H_{prev}^T dZ
    dW_proj = _rows_product(m_all, dhp_all) if proj else None
    d_ci, d_cf, d_co = d_peep.unbind(0) if peep else (None, None, None)
    d_gc, d_bc = d_ln_c.unbind(0) if ln else (None, None)
    d_gih = d_gih if g_ih is not None else None
    d_bih = d_bih if (g_ih is not None and ctx.has_b_ih) else None
    return (dgx, dh0, dc0, None, dW_hh, d_ci, d_cf if w_cf is not None else None, d_co, d_ghh if ln else None, d_gc,
            d_bc, dW_proj, d_scale if h_scale is not None else None, d_gih, d_bih)


lstm_forward.register_autograd(_lstm_grad, setup_context=_lstm_setup)


def lstm_recurrence(gx: Tensor, h0: Tensor, c0: Tensor, mask: Tensor | None, weights: dict, *, forget_gate: bool,
                    forget_bias: float, cell_clip: float | None, proj_clip: float | None, eps: float,
                    zone: tuple | None) -> tuple[Tensor, Tensor, Tensor]:
    """y (T, B, P), h_T, c_T of the compiled LSTM; ``weights`` names W_hh and the optional tensors."""
    w = {name: weights.get(name) for name in _LSTM_INPUTS[4:]}
    out = torch.ops.rnnkit.lstm_forward(gx, h0, c0, mask, **w, forget_gate=forget_gate, forget_bias=forget_bias,
                                        cell_clip=cell_clip or 0.0, proj_clip=proj_clip or 0.0, eps=eps,
                                        **zone_kwargs(zone))
    return out[0], out[1], out[2]


def zone_kwargs(zone: tuple | None) -> dict:
    """Zoneout's ``(training, p, cell_p, seed)`` as the operators' keyword arguments (off for None)."""
    if zone is None:
        return dict(zone_on=False, zone_train=False, zone_p=0.0, zone_pc=0.0, zone_seed=0)
    training, p, cell_p, seed = zone
    return dict(zone_on=True, zone_train=bool(training), zone_p=float(p), zone_pc=float(cell_p), zone_seed=int(seed))


# -------------------------------------------------------------------------------------------- GRU

@torch.library.custom_op("rnnkit::gru_forward", mutates_args=())
def gru_forward(gx: Tensor, h0: Tensor, mask: Optional[Tensor], W_hh: Tensor, b_hh: Optional[Tensor],
                g_hh: Optional[Tensor], h_scale: Optional[Tensor], g_ih: Optional[Tensor], b_ih: Optional[Tensor], *,
                reset_after: bool, eps: float, zone_on: bool, zone_train: bool, zone_p: float, zone_pc: float,
                zone_seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(y, h_T) and what the backward pass reads: h_all, gates, side, z_hat, z_rstd, x_hat, x_rstd."""
    m = _module()
    x_hat = x_rstd = None
    if g_ih is not None:
        gx, x_hat, x_rstd = m.input_norm_forward(gx.contiguous(), g_ih.contiguous(), _c(b_ih), eps)
    y, h_all, *rest = m.gru_forward(gx.contiguous(), h0.contiguous(), _c(mask), W_hh.contiguous(), _c(b_hh), _c(g_hh),
                                    _c(h_scale), reset_after, eps, zone_on, zone_train, zone_p, zone_pc, zone_seed)
    return (y, h_all[gx.shape[0]].clone(), h_all, *(_out(t, gx) for t in rest), _out(x_hat, gx), _out(x_rstd, gx))


@gru_forward.register_fake
def _(gx, h0, mask, W_hh, b_hh, g_hh, h_scale, g_ih, b_ih, **_):
    T, B, H3 = gx.shape
    H, e = h0.shape[1], gx.new_empty(0)
    ln, lni = g_hh is not None, g_ih is not None
    return (gx.new_empty(T, B, H), gx.new_empty(B, H), gx.new_empty(T + 1, B, H), gx.new_empty(T, B, H3),
            gx.new_empty(T, B, H), gx.new_empty(T, B, H3) if ln else e, gx.new_empty(T, B) if ln else e,
            gx.new_empty(T, B, H3) if lni else e, gx.new_empty(T, B) if lni else e)


@torch.library.custom_op("rnnkit::gru_backward", mutates_args=())
def gru_backward(dy: Tensor, dh_T: Tensor, mask: Optional[Tensor], y: Optional[Tensor], gates: Tensor, h_all: Tensor,
                 side: Tensor, z_hat: Optional[Tensor], z_rstd: Optional[Tensor], W_hh: Tensor, g_hh: Optional[Tensor],
                 h_scale: Optional[Tensor], *, reset_after: bool, eps: float, zone_on: bool, zone_train: bool,
                 zone_p: float, zone_pc: float, zone_seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """d gx, d a (the recurrent product plus b_hh), d (h W_hh) [layer norm], d h0, d h_scale."""
    out = _module().gru_backward(dy.contiguous(), dh_T.contiguous(), _c(mask), _c(y), gates, h_all, side, z_hat, z_rstd,
                                 W_hh.contiguous(), _c(g_hh), _c(h_scale), reset_after, eps, zone_on, zone_train,
                                 zone_p, zone_pc, zone_seed)
    return tuple(_out(t, gates) for t in out)


@gru_backward.register_fake
def _(dy, dh_T, mask, y, gates, h_all, side, z_hat, z_rstd, W_hh, g_hh, h_scale, *, reset_after, **_):
    T, B, H3 = gates.shape
    H, e = H3 // 3, gates.new_empty(0)
    return (gates.new_empty(T, B, H3), gates.new_empty(T, B, H3 if reset_after else 2 * H),
            gates.new_empty(T, B, H3) if g_hh is not None else e, gates.new_empty(B, H),
            gates.new_empty(B, H) if h_scale is not None else e)


def _gru_setup(ctx, inputs, keyword_only_inputs, output):
    _, _, mask, W_hh, b_hh, g_hh, h_scale, g_ih, b_ih = inputs
    y, _, *saved = output
    ctx.mark_non_differentiable(*saved)
    _no_zero_grads(ctx)
    ctx.save_for_backward(y if h_scale is not None else None, *saved, mask, W_hh, g_hh, h_scale, g_ih)
    ctx.kw, ctx.has_bias, ctx.has_b_ih = keyword_only_inputs, b_hh is not None, b_ih is not None


def _gru_grad(ctx, dy, dh_T, *_):
    y, h_all, gates, side, z_hat, z_rstd, x_hat, x_rstd, mask, W_hh, g_hh, h_scale, g_ih = ctx.saved_tensors
    T, H = gates.shape[0], h_all.shape[2]
    dgx, da, dz, dh0, d_scale = torch.ops.rnnkit.gru_backward(
        _incoming(dy, h_all[1:]), _incoming(dh_T, h_all[0]), mask, y, gates, h_all, side, _opt(z_hat), _opt(z_rstd),
        W_hh, g_hh, h_scale, **ctx.kw)
    h_prev = h_all[:T]
    if ctx.kw["reset_after"]:   # a = LN(h W_hh) g + b_hh
        dW = _rows_product(h_prev, dz if g_hh is not None else da)
        db = da.sum((0, 1))
    else:                       # [h W_rz, (r h) W_n] + b_hh
        d_an = dgx[..., 2 * H:]
        dW = torch.cat([_rows_product(h_prev, da), _rows_product(side, d_an)], dim=1)
        db = torch.cat([da.sum((0, 1)), d_an.sum((0, 1))])
    dg = (da * z_hat).sum((0, 1)) if g_hh is not None else None
    dgx, d_gih, d_bih = _input_norm_backward(dgx, _opt(x_hat), _opt(x_rstd), g_ih, ctx.has_b_ih)
    return (dgx, dh0, None, dW, db if ctx.has_bias else None, dg, d_scale if h_scale is not None else None, d_gih,
            d_bih)


gru_forward.register_autograd(_gru_grad, setup_context=_gru_setup)


def gru_recurrence(gx: Tensor, h0: Tensor, mask: Tensor | None, W_hh: Tensor, *, b_hh: Tensor | None = None,
                   g_hh: Tensor | None = None, h_scale: Tensor | None = None, g_ih: Tensor | None = None,
                   b_ih: Tensor | None = None, reset_after: bool, eps: float, zone: tuple | None
                   ) -> tuple[Tensor, Tensor]:
    """y (T, B, H) and h_T of the compiled GRU."""
    out = torch.ops.rnnkit.gru_forward(gx, h0, mask, W_hh, b_hh, g_hh, h_scale, g_ih, b_ih, reset_after=reset_after,
                                       eps=eps, **zone_kwargs(zone))
    return out[0], out[1]


# ------------------------------------------------------------------------------------------ Elman

@torch.library.custom_op("rnnkit::elman_forward", mutates_args=())
def elman_forward(gx: Tensor, h0: Tensor, mask: Optional[Tensor], W_hh: Tensor, h_scale: Optional[Tensor], *,
                  relu: bool, zone_on: bool, zone_train: bool, zone_p: float, zone_pc: float, zone_seed: int
                  ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(y, h_T) and what the backward pass reads: h_all, h_new (the cell's own h_t before the carry)."""
    y, h_all, h_new = _module().elman_forward(gx.contiguous(), h0.contiguous(), _c(mask), W_hh.contiguous(),
                                              _c(h_scale), relu, zone_on, zone_train, zone_p, zone_pc, zone_seed)
    return y, h_all[gx.shape[0]].clone(), h_all, h_new


@elman_forward.register_fake
def _(gx, h0, mask, W_hh, h_scale, **_):
    T, B, H = gx.shape
    return gx.new_empty(T, B, H), gx.new_empty(B, H), gx.new_empty(T + 1, B, H), gx.new_empty(T, B, H)


@torch.library.custom_op("rnnkit::elman_backward", mutates_args=())
def elman_backward(dy: Tensor, dh_T: Tensor, mask: Optional[Tensor], h_new: Tensor, W_hh: Tensor,
                   h_scale: Optional[Tensor], *, relu: bool, zone_on: bool, zone_train: bool, zone_p: float,
                   zone_pc: float, zone_seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """d a (the pre-activation), d h0, d h_scale."""
    out = _module().elman_backward(dy.contiguous(), dh_T.contiguous(), _c(mask), h_new, W_hh.contiguous(), _c(h_scale),
                                   relu, zone_on, zone_train, zone_p, zone_pc, zone_seed)
    return tuple(_out(t, h_new) for t in out)


@elman_backward.register_fake
def _(dy, dh_T, mask, h_new, W_hh, h_scale, **_):
    T, B, H = h_new.shape
    return h_new.new_empty(T, B, H), h_new.new_empty(B, H), h_new.new_empty(B, H) if h_scale is not None else \
        h_new.new_empty(0)


def _elman_setup(ctx, inputs, keyword_only_inputs, output):
    _, _, mask, W_hh, h_scale = inputs
    _, _, h_all, h_new = output
    ctx.mark_non_differentiable(h_all, h_new)
    _no_zero_grads(ctx)
    ctx.save_for_backward(h_all, h_new, mask, W_hh, h_scale)
    ctx.kw = keyword_only_inputs


def _elman_grad(ctx, dy, dh_T, *_):
    h_all, h_new, mask, W_hh, h_scale = ctx.saved_tensors
    da, dh0, d_scale = torch.ops.rnnkit.elman_backward(_incoming(dy, h_new), _incoming(dh_T, h_all[0]), mask, h_new,
                                                       W_hh, h_scale, **ctx.kw)
    dW = _rows_product(h_all[:-1], da)                                                 # H_{prev}^T dA
    return da, dh0, None, dW, d_scale if h_scale is not None else None


elman_forward.register_autograd(_elman_grad, setup_context=_elman_setup)


def elman_recurrence(gx: Tensor, h0: Tensor, mask: Tensor | None, W_hh: Tensor, *, h_scale: Tensor | None = None,
                     relu: bool, zone: tuple | None) -> tuple[Tensor, Tensor]:
    """y (T, B, H) and h_T of the compiled Elman recurrence."""
    out = torch.ops.rnnkit.elman_forward(gx, h0, mask, W_hh, h_scale, relu=relu, **zone_kwargs(zone))
    return out[0], out[1]


# ------------------------------------------------------------------------- linear recurrences (scan)

@torch.library.custom_op("rnnkit::linear_scan", mutates_args=())
def linear_scan(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """Every h_t (B, T, H) of h_t = a_t h_{t-1} + b_t, batch-first, one fused multiply-add per unit and step."""
    return _module().linear_scan_forward(a.contiguous(), b.contiguous(), h0.contiguous())


@linear_scan.register_fake
def _(a, b, h0):
    return torch.empty_like(a, memory_format=torch.contiguous_format)


@torch.library.custom_op("rnnkit::linear_scan_backward", mutates_args=())
def linear_scan_backward(dh: Tensor, a: Tensor, h: Tensor, h0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """d a, d b, d h0 of ``linear_scan``: g_t = dh_t + a_{t+1} g_{t+1}; d b = g; d a_t = g_t h_{t-1}."""
    return tuple(_module().linear_scan_backward(dh.contiguous(), a.contiguous(), h, h0.contiguous()))


@linear_scan_backward.register_fake
def _(dh, a, h, h0):
    return torch.empty_like(a), torch.empty_like(a), torch.empty_like(h0)


def _scan_setup(ctx, inputs, output):
    a, _, h0 = inputs
    ctx.save_for_backward(a, output, h0)


def _scan_grad(ctx, dh):
    a, h, h0 = ctx.saved_tensors
    return torch.ops.rnnkit.linear_scan_backward(dh, a, h, h0)


linear_scan.register_autograd(_scan_grad, setup_context=_scan_setup)


# ------------------------------------------------------------------------------- minGRU / minLSTM

@torch.library.custom_op("rnnkit::min_rnn", mutates_args=())
def min_rnn(gx: Tensor, h0: Tensor, mask: Optional[Tensor], *, kind: int, act: int) -> Tensor:
    """Every carried h_t (B, T, H) of minGRU (kind 0, gx = [k, v]) or minLSTM (kind 1, gx = [k_f, k_i, v]):
    the gates of each step and the scan in one pass; ``act``: 0 the paper's positive g, 1 identity, 2 tanh."""
    return _module().min_rnn_forward(gx.contiguous(), h0.contiguous(), _c(mask), kind, act)


@min_rnn.register_fake
def _(gx, h0, mask, *, kind, act):
    return gx.new_empty(gx.shape[0], gx.shape[1], h0.shape[1])


@torch.library.custom_op("rnnkit::min_rnn_backward", mutates_args=())
def min_rnn_backward(dh: Tensor, gx: Tensor, h: Tensor, h0: Tensor, mask: Optional[Tensor], *, kind: int,
                     act: int) -> tuple[Tensor, Tensor]:
    """d gx and d h0 of ``min_rnn`` (the gates recomputed from gx)."""
    return tuple(_module().min_rnn_backward(dh.contiguous(), gx.contiguous(), h, h0.contiguous(), _c(mask), kind,
                                            act))


@min_rnn_backward.register_fake
def _(dh, gx, h, h0, mask, *, kind, act):
    return torch.empty_like(gx), torch.empty_like(h0)


def _min_setup(ctx, inputs, keyword_only_inputs, output):
    gx, h0, mask = inputs
    ctx.save_for_backward(gx, output, h0, mask)
    ctx.kw = keyword_only_inputs


def _min_grad(ctx, dh):
    gx, h, h0, mask = ctx.saved_tensors
    dgx, dh0 = torch.ops.rnnkit.min_rnn_backward(dh, gx, h, h0, mask, **ctx.kw)
    return dgx, dh0, None


min_rnn.register_autograd(_min_grad, setup_context=_min_setup)


# ------------------------------------------------------------------------------- EUNN

@torch.library.custom_op("rnnkit::eunn", mutates_args=())
def eunn(gx: Tensor, h0: Tensor, mask: Optional[Tensor], v: Tensor, w: Tensor, d: Tensor, bias: Tensor,
         partner: Tensor, *, eps: float) -> Tensor:
    """Every carried state h_t (B, T, 2N) of the EUNN recurrence from the projected inputs gx (B, T, 2N):
    complex vectors as [re | im]; ``v``, ``w`` (L, 2N) the rotation layers, ``d`` (2N,) the phases,
    ``bias`` (N,) modReLU's, ``partner`` (L, N) int64 each unit's pair."""
    return _module().eunn_forward(gx.contiguous(), h0.contiguous(), _c(mask), v.contiguous(), w.contiguous(),
                                  d.contiguous(), bias.contiguous(), partner.contiguous(), eps)


@eunn.register_fake
def _(gx, h0, mask, v, w, d, bias, partner, *, eps):
    return torch.empty_like(gx)


@torch.library.custom_op("rnnkit::eunn_backward", mutates_args=())
def eunn_backward(dh: Tensor, gx: Tensor, h: Tensor, h0: Tensor, mask: Optional[Tensor], v: Tensor, w: Tensor,
                  d: Tensor, bias: Tensor, partner: Tensor, *, eps: float
                  ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """d gx, d h0, d v, d w, d d, d bias of ``eunn`` (each step's rotations recomputed from h_{t-1})."""
    return tuple(_module().eunn_backward(dh.contiguous(), gx.contiguous(), h, h0.contiguous(), _c(mask),
                                         v.contiguous(), w.contiguous(), d.contiguous(), bias.contiguous(),
                                         partner.contiguous(), eps))


@eunn_backward.register_fake
def _(dh, gx, h, h0, mask, v, w, d, bias, partner, *, eps):
    return (torch.empty_like(gx), torch.empty_like(h0), torch.empty_like(v), torch.empty_like(w),
            torch.empty_like(d), torch.empty_like(bias))


def _eunn_setup(ctx, inputs, keyword_only_inputs, output):
    ctx.save_for_backward(*inputs, output)
    ctx.kw = keyword_only_inputs


def _eunn_grad(ctx, dh):
    gx, h0, mask, v, w, d, bias, partner, h = ctx.saved_tensors
    dgx, dh0, dv, dw, dd, dbias = torch.ops.rnnkit.eunn_backward(dh, gx, h, h0, mask, v, w, d, bias, partner,
                                                                 **ctx.kw)
    return dgx, dh0, None, dv, dw, dd, dbias, None


eunn.register_autograd(_eunn_grad, setup_context=_eunn_setup)
