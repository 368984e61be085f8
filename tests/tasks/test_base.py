"""rnnkit.tasks.base: batches grouped by length."""
from __future__ import annotations

import pytest
import torch

from rnnkit.tasks.base import bucketed_batches, padded_cost

pytestmark = pytest.mark.slow


def test_batches_grouped_by_length_cover_every_example_once_an_epoch_and_repeat_by_seed():
    lengths = torch.randint(1, 500, (203,), generator=torch.Generator().manual_seed(0)).tolist()
    for epoch in (0, 1):
        batches = bucketed_batches(lengths, 16, seed=3, epoch=epoch)
        assert sorted(i for b in batches for i in b.tolist()) == list(range(203))
        assert [b.tolist() for b in batches] == [b.tolist() for b in bucketed_batches(lengths, 16, 3, epoch)]
    assert [b.tolist() for b in bucketed_batches(lengths, 16, 3, 0)] != [b.tolist() for b in bucketed_batches(lengths, 16, 3, 1)]
    random_batches = torch.randperm(203, generator=torch.Generator().manual_seed(1)).split(16)
    random_cost = sum(len(b) * max(lengths[i] for i in b.tolist()) for b in random_batches) / len(random_batches)
    assert padded_cost(lengths, 16) < 0.75 * random_cost      # grouping pads far less than random batches
    assert padded_cost(lengths, 16) >= sum(lengths) / len(random_batches)
