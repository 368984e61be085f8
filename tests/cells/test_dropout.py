"""rnnkit.cells.dropout: variational masks are one per sequence, per-step masks change, none in eval."""
import torch

import rnnkit as rk


def test_variational_dropout_uses_one_mask_per_sequence_and_none_in_eval():
    torch.manual_seed(0)
    cell = rk.Dropout(rk.ElmanCell(3, 400, bias=False), input_p=0.5, variational=True)
    with torch.no_grad():
        cell.cell.weight_hh.zero_()
        cell.cell.weight_ih.copy_(torch.eye(3, 400))
    x = torch.ones(2, 5, 3)
    y, s = rk.unroll(cell, x)
    dropped = (y[..., :3] == 0)
    assert dropped.any() and not dropped.all()
    assert (dropped == dropped[:, :1]).all(), "a variational mask must be the same at every step"
    y_eval, _ = rk.unroll(cell.eval(), x)
    torch.testing.assert_close(y_eval[..., :3], torch.tanh(torch.ones(2, 5, 3)))


def test_per_step_dropout_changes_masks_between_steps():
    torch.manual_seed(0)
    cell = rk.Dropout(rk.ElmanCell(3, 50), output_p=0.5)
    y, _ = rk.unroll(cell, torch.ones(1, 6, 3))
    zeros = (y == 0)
    assert not (zeros == zeros[:, :1]).all()
