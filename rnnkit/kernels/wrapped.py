"""What the compiled kernels share around their time loops: unwrapping variational Dropout and
Zoneout into masks the kernel applies, the time-major input projection, and the way back.

``unwrap(cell, state)`` gives the built-in cell inside, its own state and the wrapper's effects:

- Dropout (variational, training): ``in_mask`` (B, D) on every input, ``out_mask`` (B, O) on every
  output, ``h_scale`` (B, H) on the carried ``h`` (TF1's filter leaves an LSTM's ``c`` alone);
  in evaluation Dropout does nothing;
- Zoneout: ``zone = (training, p, cell_p, seed)``; the kernel draws the masks from the seed.

>>> import rnnkit as rk
>>> cell = rk.Dropout(rk.LSTMCell(3, 4), input_p=0.5, state_p=0.5, variational=True)
>>> u = unwrap(cell, cell.initial_state(2))
>>> type(u.cell).__name__, tuple(u.in_mask.shape), tuple(u.h_scale.shape), u.zone
('LSTMCell', (2, 3), (2, 4), None)
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ..cells import Dropout, Zoneout
from ..sequence import reverse_padded, time_mask
from . import native

__all__ = ["Unwrapped", "unwrap", "zoneout_draw", "zoneout_masks", "time_major_inputs", "batch_major_outputs",
           "rewrap", "kernel_cell", "rows_product"]


class Unwrapped(NamedTuple):
    cell: object                 # the built-in cell the kernel computes
    state: object                # its own state
    in_mask: Tensor | None
    out_mask: Tensor | None
    h_scale: Tensor | None
    zone: tuple | None


def kernel_cell(cell):
    """The built-in cell a compiled kernel would compute for ``cell``: the cell inside a Zoneout or a
    variational (or evaluating) Dropout, ``cell`` itself otherwise, None for a Dropout drawing fresh
    masks at every training step (those stay on the generic path). Exact types only: a subclass may
    change what a wrapper does."""
    if type(cell) is Dropout:
        return cell.cell if (cell.variational or not cell.training) else None
    if type(cell) is Zoneout:
        return cell.cell
    return cell


def zoneout_draw(cell) -> tuple[bool, float, float, int]:
    """What the compiled kernels need to draw a Zoneout's masks: (training, p, cell_p, seed). The seed
    comes from torch's default generator, so ``torch.manual_seed`` makes a run repeatable."""
    seed = int(torch.randint(0, 2 ** 62, ())) if cell.training else 0
    return bool(cell.training), float(cell.p), float(cell.cell_p), seed


def zoneout_masks(zone: tuple[bool, float, float, int], T: int, B: int, P: int, H: int,
                  dtype=torch.float64) -> tuple[Tensor, Tensor]:
    """The masks the compiled kernels use for ``zone`` (from ``zoneout_draw``): (T, B, P) for h and
    (T, B, H) for an LSTM's c, 1 where a unit keeps its previous value (p itself in evaluation)."""
    training, p, cell_p, seed = zone
    return tuple(native.load().zoneout_masks(T, B, P, H, p, cell_p, training, seed, dtype))











def rows_product(a: Tensor, b: Tensor) -> Tensor:
    """``sum_r a_r^T b_r`` over all leading (T, B) rows in one product: a weight's gradient from its
    input ``a`` (T, B, K) and the gradient of its output ``b`` (T, B, N), (K, N)."""
    return a.reshape(-1, a.shape[-1]).t() @ b.reshape(-1, b.shape[-1])


def unwrap(cell, state) -> Unwrapped:
    if type(cell) is Zoneout:
        return Unwrapped(cell.cell, state, None, None, None, zoneout_draw(cell))
    if type(cell) is Dropout:
        if not (cell.training and cell.variational):
            return Unwrapped(cell.cell, state.cell, None, None, None, None)
        mask = state.state_mask
        h_scale = mask.h if hasattr(mask, "h") else mask                     # LSTMState(h, None) or a tensor
        return Unwrapped(cell.cell, state.cell, state.input_mask, state.output_mask, h_scale, None)
    return Unwrapped(cell, state, None, None, None, None)


def rewrap(cell, state, final):
    """The wrapper's state around the inner cell's ``final`` state (a Dropout state keeps its masks)."""
    return state._replace(cell=final) if type(cell) is Dropout else final


def time_major_inputs(u: Unwrapped, x: Tensor, lengths: Tensor | None, reverse: bool,
                      raw: bool = False) -> tuple[Tensor, Tensor | None]:
    """The input projection for all steps, time first, (T, B, G*H), and the (T, B) 0/1 length mask (None if
    all full). ``raw``: only ``x W_ih``, for a kernel that applies the cell's input layer norm and bias itself."""
    B, T = x.shape[:2]
    if reverse:
        x = reverse_padded(x, lengths)
    if u.in_mask is not None:
        x = x * u.in_mask.unsqueeze(1)                                           # (B, 1, D) at every step
    x = x.transpose(0, 1)                                                        # (T, B, D)
    if raw:
        gx = (x.reshape(-1, x.shape[-1]) @ u.cell.weight_ih).view(*x.shape[:2], -1)
    else:
        gx = u.cell.project_input(x)                                             # (T, B, G*H)
    return gx, time_mask(lengths, T, gx.dtype)








def batch_major_outputs(u: Unwrapped, y: Tensor, lengths: Tensor | None, reverse: bool) -> Tensor:
    """(T, B, O) kernel outputs back to (B, T, O), with the output mask and the reversal undone."""
    y = y.transpose(0, 1)
    if u.out_mask is not None:
        y = y * u.out_mask.unsqueeze(1)
    return reverse_padded(y, lengths) if reverse else y
