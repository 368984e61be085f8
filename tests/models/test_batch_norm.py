"""rnnkit.models.batch_norm: masked batch norm's statistics are those of the series without padding."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.models import MaskedBatchNorm1d

pytestmark = pytest.mark.slow


def test_batch_norm_statistics_are_those_of_the_series_without_padding():
    torch.manual_seed(3)
    lengths = [9, 2, 5]
    x = torch.randn(3, 4, 9, dtype=torch.float64)
    live = (torch.arange(9)[None] < torch.tensor(lengths)[:, None]).double().unsqueeze(1)    # (B, 1, T)
    masked, plain = MaskedBatchNorm1d(4).double(), nn.BatchNorm1d(4).double()
    y = masked(x * live, live)
    joined = torch.cat([x[b, :, :n] for b, n in enumerate(lengths)], dim=1)[None]            # (1, C, sum L)
    expected = plain(joined)[0]
    torch.testing.assert_close(torch.cat([y[b, :, :n] for b, n in enumerate(lengths)], dim=1), expected)
    torch.testing.assert_close(masked.running_mean, plain.running_mean)
    torch.testing.assert_close(masked.running_var, plain.running_var)
    full = torch.ones(3, 1, 9, dtype=torch.float64)                 # every step live: nn.BatchNorm1d itself
    torch.testing.assert_close(MaskedBatchNorm1d(4).double()(x, full), nn.BatchNorm1d(4).double()(x))
