"""rnnkit.cells.zoneout: training keeps previous values, eval averages."""
import torch

import rnnkit as rk


def test_zoneout_training_keeps_previous_values_and_eval_averages():
    torch.manual_seed(0)
    base = rk.GRUCell(3, 200)
    cell = rk.Zoneout(base, p=0.5)
    h0 = torch.randn(1, 200)
    x = torch.randn(1, 3)
    y, h1 = cell(x, h0)
    _, fresh = base(x, h0)
    kept, new = (h1 == h0), (h1 == fresh)
    assert (kept | new).all() and kept.any() and new.any()
    assert torch.equal(y, h1)
    y_eval, h_eval = cell.eval()(x, h0)
    torch.testing.assert_close(h_eval, 0.5 * h0 + 0.5 * fresh)
