r"""The parallel scan for cells linear in their state, ``h_t = a_t \odot h_{t-1} + b_t`` (minGRU, minLSTM,
and any cell that declares ``linear_recurrence``).

``linear_scan`` is the Hillis-Steele prefix scan of ``(a, b) . (a', b') = (a a', a' b + b')``: after
the passes with offsets 1, 2, 4, ... every position holds the composition of all the steps up to it,
so ``O(log T)`` vectorised passes over (B, T, H) replace ``T`` sequential steps, and autograd
differentiates them as any other tensor ops. It multiplies factors in ``(0, 1]`` and never divides
by a cumulative product, so it needs no log-space to stay finite (the log-space form of Feng et al.
2024 exists to avoid exactly that division); products that underflow go to 0, which they are.

The masking model holds by construction: past a sequence's length a step is ``a = 1, b = 0`` (the
state passes through unchanged) and its output is zero; ``reverse`` reverses inside each length.

>>> a, b = torch.full((1, 3, 1), 0.5), torch.ones(1, 3, 1)
>>> linear_scan(a, b, torch.zeros(1, 1)).flatten().tolist()        # h = 1, 1.5, 1.75
[1.0, 1.5, 1.75]
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..sequence import all_full, reverse_padded, step_mask
from . import ops  # noqa: F401  (registers torch.ops.rnnkit.linear_scan)

__all__ = ["linear_scan", "scan_unroll", "declares_linear", "min_rnn_unroll"]


def linear_scan(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """Every ``h_t`` (B, T, H) of ``h_t = a_t h_{t-1} + b_t`` from ``a``, ``b`` (B, T, H) and ``h0`` (B, H)."""
    T = a.shape[1]
    if T == 0:
        return b
    b = torch.cat([a[:, :1] * h0.unsqueeze(1) + b[:, :1], b[:, 1:]], dim=1)      # h0 folded into step 1
    offset = 1
    while offset < T:
        # position t takes the composition ending at t - offset: (a, b) <- (a_prev a, a b_prev + b)
        a_prev = torch.cat([a.new_ones(a.shape[0], offset, a.shape[2]), a[:, :-offset]], dim=1)
        b_prev = torch.cat([b.new_zeros(b.shape[0], offset, b.shape[2]), b[:, :-offset]], dim=1)
        b = torch.addcmul(b, a, b_prev)
        a = a * a_prev
        offset *= 2
    return b


def declares_linear(cell: nn.Module) -> bool:
    """Does ``cell`` declare its step as ``h_t = a_t h_{t-1} + b_t`` (``linear_recurrence``)?"""
    return callable(getattr(cell, "linear_recurrence", None))


def scan_unroll(cell: nn.Module, x: Tensor, lengths: Tensor | None, state: Tensor, reverse: bool, *,
                compiled: bool = False):
    """``unroll`` through ``linear_scan`` (``compiled``: the operator ``torch.ops.rnnkit.linear_scan``, one
    fused multiply-add per unit and step): outputs (B, T, H) (the states, zero past each length) and
    the final state."""
    B, T = x.shape[:2]
    if reverse:
        x = reverse_padded(x, lengths)
    a, b = cell.linear_recurrence(x)                                             # (B, T, H) each
    live = None
    if not all_full(lengths, T):
        live = step_mask(lengths, T).unsqueeze(-1)                               # (B, T, 1)
        a = torch.where(live, a, torch.ones_like(a))                             # padding: the state passes
        b = torch.where(live, b, torch.zeros_like(b))
    h = torch.ops.rnnkit.linear_scan(a, b, state) if compiled else linear_scan(a, b, state)
    final = h[:, -1]                                                             # padding carried it there
    y = h if live is None else h * live.to(h.dtype)
    if reverse:
        y = reverse_padded(y, lengths)
    return y, final


_ACT = {"positive": 0, "identity": 1, "tanh": 2}


def min_rnn_unroll(cell: nn.Module, x: Tensor, lengths: Tensor | None, state: Tensor, reverse: bool):
    """``unroll`` for a MinGRUCell or MinLSTMCell through ``torch.ops.rnnkit.min_rnn``: the input map for
    all steps is one product; the gates and the scan are one compiled pass."""
    B, T = x.shape[:2]
    if reverse:
        x = reverse_padded(x, lengths)
    flat = x.reshape(B * T, x.shape[-1])
    gx = (torch.addmm(cell.bias, flat, cell.weight_ih) if cell.bias is not None    # bias inside the product
          else flat @ cell.weight_ih).view(B, T, -1)                             # (B, T, G*H)
    live = None if all_full(lengths, T) else step_mask(lengths, T)               # (B, T)
    mask = None if live is None else live.to(gx.dtype)
    h = torch.ops.rnnkit.min_rnn(gx, state, mask, kind=0 if cell.num_maps == 2 else 1,
                                 act=_ACT[cell.activation_name])
    final = h[:, -1]                                                             # padding carried it there
    y = h if live is None else h * live.unsqueeze(-1).to(h.dtype)
    if reverse:
        y = reverse_padded(y, lengths)
    return y, final
