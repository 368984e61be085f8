r"""Compiled Elman recurrence (``csrc/elman.cpp``) for ElmanCells with tanh or relu, alone (with or
without an output map) or inside variational Dropout or Zoneout: the Simple RNNs post and the Theano notebook's network,

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

from ..cells import ElmanCell
from .ops import elman_recurrence
from .torch_rnn import output_map
from .wrapped import batch_major_outputs, kernel_cell, rewrap, time_major_inputs, unwrap

__all__ = ["native_computes", "elman_unroll"]


def native_computes(cell) -> bool:
    """ElmanCells (tanh or relu) the compiled kernel computes: alone, or without an output map inside
    a variational (or evaluating) Dropout or a Zoneout."""
    inner = kernel_cell(cell)
    if type(inner) is not ElmanCell or inner.spec().fused_op is None:
        return False
    return inner is cell or not inner.has_output_map


def elman_unroll(cell, x: Tensor, lengths: Tensor | None, state, reverse: bool):
    """``unroll`` for an ElmanCell (or one inside Dropout / Zoneout) through ``torch.ops.rnnkit.elman_forward``."""
    u = unwrap(cell, state)
    gx, mask = time_major_inputs(u, x, lengths, reverse)
    y, h = elman_recurrence(gx, u.state, mask, u.cell.weight_hh, h_scale=u.h_scale,
                            relu=u.cell.activation_name == "relu", zone=u.zone)
    y = batch_major_outputs(u, y, lengths, reverse)
    if u.cell.has_output_map:
        y = output_map(u.cell, y, lengths)
    return y, rewrap(cell, state, h)
