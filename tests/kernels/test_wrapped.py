"""rnnkit.kernels.wrapped: zoneout's masks in the compiled kernels."""
import pytest
import torch

import rnnkit as rk
from rnnkit import kernels
from rnnkit.kernels.wrapped import zoneout_draw, zoneout_masks
from rnnkit.state import leaves


D = 3


def _replaying(zoneout: rk.Zoneout, masks: list) -> rk.Zoneout:
    """The generic Zoneout, stepping with given masks (h then c, step by step) instead of drawing."""
    zoneout._zone = lambda new, old, p: (lambda d: d * old + (1 - d) * new)(masks.pop(0))
    return zoneout


ZONED = {
    "lstm": lambda: rk.LSTMCell(D, 5),
    "lstm_options": lambda: rk.LSTMCell(D, 5, peepholes=True, proj_size=4, cell_clip=0.6),
    "lstm_layer_norm": lambda: rk.LSTMCell(D, 5, layer_norm=True),
    "gru": lambda: rk.GRUCell(D, 5),
    "gru_reset_before": lambda: rk.GRUCell(D, 5, reset_after=False),
    "gru_layer_norm": lambda: rk.GRUCell(D, 5, layer_norm=True),
    "elman": lambda: rk.ElmanCell(D, 5),
}


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, [6, 3, 0, 1]], ids=["full", "lengths"])
@pytest.mark.parametrize("name", sorted(ZONED))
def test_native_zoneout_in_training_equals_the_generic_path_with_its_masks(name, lengths, reverse):
    torch.manual_seed(0)
    cell = rk.Zoneout(ZONED[name]().double(), p=0.3, cell_p=0.6)
    is_lstm = isinstance(cell.cell, rk.LSTMCell)                # GRU and Elman states are h alone
    B, T = 4, 6
    x = torch.randn(B, T, D, dtype=torch.float64, requires_grad=True)
    lengths = None if lengths is None else torch.tensor(lengths)

    def run():
        y, s = rk.unroll(cell, x, lengths=lengths, reverse=reverse)
        h, c = (s.h, s.c) if is_lstm else (s, s)
        loss = (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum() + (c ** 2).sum() + h.sum()
        return [y, *leaves(s), *torch.autograd.grad(loss, [x, *cell.parameters()])]

    torch.manual_seed(7)
    fast = run()
    torch.manual_seed(7)
    zh, zc = zoneout_masks(zoneout_draw(cell), T, B, cell.cell.output_size, 5)
    _replaying(cell, [m for t in range(T) for m in ((zh[t], zc[t]) if is_lstm else (zh[t],))])
    with kernels.only_generic():
        slow = run()
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_native_zoneout_masks_are_bernoulli_and_seeded():
    cell = rk.Zoneout(rk.LSTMCell(D, 5), p=0.15, cell_p=0.5)
    torch.manual_seed(3)
    zh, zc = zoneout_masks(zoneout_draw(cell), 200, 16, 64, 32)
    assert set(zh.unique().tolist()) == {0.0, 1.0}
    assert abs(zh.mean().item() - 0.15) < 0.005 and abs(zc.mean().item() - 0.5) < 0.01   # 2e5 and 1e5 draws
    # neighbouring units and steps are not correlated
    assert abs(torch.corrcoef(torch.stack([zc[:, :, :-1].flatten(), zc[:, :, 1:].flatten()]))[0, 1]) < 0.02
    assert abs(torch.corrcoef(torch.stack([zc[:-1].flatten(), zc[1:].flatten()]))[0, 1]) < 0.02
    torch.manual_seed(3)
    again, _ = zoneout_masks(zoneout_draw(cell), 200, 16, 64, 32)
    other, _ = zoneout_masks(zoneout_draw(cell), 200, 16, 64, 32)
    assert torch.equal(zh, again) and not torch.equal(zh, other)
    cell.eval()
    zh, zc = zoneout_masks(zoneout_draw(cell), 2, 3, 4, 5)
    assert bool((zh == 0.15).all()) and bool((zc == 0.5).all())
