"""Batch normalisation over the live steps of padded series, and population statistics for evaluation."""
from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch import Tensor, nn


def live_steps(x: Tensor, lengths) -> Tensor:
    """(B, 1, T) in ``x``'s dtype: 1 at the steps of a batch (B, T, D) inside each series' length (every step
    without ``lengths``), 0 at padding; what ``MaskedBatchNorm1d`` and the convolutional branches mask with.

    >>> live_steps(torch.zeros(2, 3, 1), torch.tensor([3, 1])).tolist()
    [[[1.0, 1.0, 1.0]], [[1.0, 0.0, 0.0]]]
    """
    B, T = x.shape[:2]
    if lengths is None:
        return x.new_ones(B, 1, T)
    return (torch.arange(T, device=x.device)[None] < torch.as_tensor(lengths, device=x.device)[:, None]).unsqueeze(1).to(x.dtype)


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """Batch normalisation over the live steps of a padded batch (B, C, T) only.

    In training mode the mean and (biased) variance of each channel are taken over the steps inside each
    series' length, ``mu = sum(m x) / sum(m)``, ``var = sum(m (x - mu)^2) / sum(m)``, and the running statistics
    move towards them (the unbiased variance, as ``nn.BatchNorm1d``); in evaluation mode the running statistics
    are used. So the statistics, and everything after them, are those of the same series concatenated without
    padding, however long the batch's padding is. With every step live it is ``nn.BatchNorm1d``.

    >>> bn = MaskedBatchNorm1d(2)
    >>> x = torch.tensor([[[1., 2., 3.], [0., 0., 1.]], [[5., 0., 0.], [2., 0., 0.]]])   # (B 2, C 2, T 3)
    >>> live = torch.tensor([[[1., 1., 1.]], [[1., 0., 0.]]])                             # lengths 3, 1
    >>> torch.allclose(bn(x, live)[1, :, 0], bn(torch.cat([x[0], x[1, :, :1]], 1)[None])[0, :, -1])
    True
    """

    sums: list | None = None     # [n, sum x, sum x^2] over live steps while ``population_statistics_`` counts

    def forward(self, x: Tensor, live: Tensor | None = None) -> Tensor:
        if self.sums is not None:
            m = torch.ones_like(x[:, :1]) if live is None else live
            xm = x * m
            self.sums[0] += m.sum() * 1.0
            self.sums[1] += xm.sum((0, 2)).double()
            self.sums[2] += (xm * x).sum((0, 2)).double()
        if live is None or not self.training or bool(live.all()):
            return super().forward(x)
        n = live.sum().clamp(min=1)                                         # live steps in the batch
        xm = x * live
        mu = xm.sum((0, 2)) / n                                             # (C,)
        var = ((xm * x).sum((0, 2)) / n - mu ** 2).clamp(min=0)             # (C,), biased: E[x^2] - mu^2
        if self.track_running_stats:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked + 1)
                self.num_batches_tracked += 1
                unbiased = var * (n / (n - 1).clamp(min=1))
                self.running_mean.mul_(1 - m).add_(m * mu)
                self.running_var.mul_(1 - m).add_(m * unbiased)
        y = (x - mu[:, None]) / torch.sqrt(var[:, None] + self.eps)
        if self.affine:
            y = y * self.weight[:, None] + self.bias[:, None]
        return y


@torch.no_grad()
def population_statistics_(model: nn.Module, batches: Callable[[], Iterator[tuple[Tensor, Tensor]]]) -> int:
    """Set the running statistics of every ``MaskedBatchNorm1d`` in ``model`` to the mean and unbiased variance
    over all live steps of the data (``batches()`` yields ``(x, lengths)``), layer by layer, each layer counted
    with the layers before it already normalised by their own population statistics. Returns the layers set.

    A moving average of small batches' statistics is not the population's: it misses the spread between the
    batches' means, which is large when a batch of 16 holds a few of many heterogeneous series (52 classes of two
    series each), and evaluation then normalises by the wrong scale. The population statistics are what a batch
    holding every training series would use ("precise BN", Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm").

    >>> from rnnkit.models.lstm_fcn import FCN
    >>> fcn = FCN(1)
    >>> x = torch.randn(6, 9, 1) * torch.arange(1, 7.)[:, None, None]        # series of very different scales
    >>> population_statistics_(fcn, lambda: iter([(x[:3], None), (x[3:], None)]))
    3
    >>> _ = fcn.train(); whole = fcn(x, None); _ = fcn.eval()            # the unbiased variance's n / (n - 1))
    >>> bool(torch.allclose(fcn(x, None), whole, rtol=0.02, atol=1e-3))   # as one batch of every series (up to
    True
    """
    norms = [m for m in model.modules() if isinstance(m, MaskedBatchNorm1d)]
    was_training = model.training
    model.eval()
    try:
        for norm in norms:
            norm.sums = [torch.zeros((), dtype=torch.float64), 0.0, 0.0]
            for x, lengths in batches():
                model(x, lengths)
            n, s1, s2 = norm.sums
            if n > 1:
                mean = s1 / n
                var = (s2 / n - mean ** 2).clamp(min=0) * n / (n - 1)
                norm.running_mean.copy_(mean)
                norm.running_var.copy_(var)
            norm.sums = None
    finally:
        for norm in norms:
            norm.sums = None
        model.train(was_training)
    return len(norms)
