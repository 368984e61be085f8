"""rnnkit.data.memory: the copy and adding problems."""
import math

import torch

from rnnkit.data.memory import adding_batch, copy_baseline, copy_batch


def test_problems_are_what_they_say():
    g = torch.Generator().manual_seed(1)
    x, y = copy_batch(4, 30, g)
    assert torch.equal(y[:, -10:], x[:, :10]) and bool((x[:, 10:39] == 0).all()) and bool((x[:, 39] == 9).all())
    assert math.isclose(copy_baseline(30), 10 * math.log(8) / 50)
    x, y = adding_batch(5, 12, g)
    marked = x[:, :, 1] == 1
    assert bool((marked[:, :6].sum(1) == 1).all()) and bool((marked[:, 6:].sum(1) == 1).all())
    torch.testing.assert_close(y[:, 0], (x[:, :, 0] * x[:, :, 1]).sum(1))
