"""The Inception network of InceptionTime (Ismail Fawaz et al. 2020, "InceptionTime: Finding AlexNet for time series
classification") as the convolutional branch beside a recurrent one (LSTM-Inception, as LSTM-FCN puts FCN there)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .batch_norm import MaskedBatchNorm1d, live_steps
from .lstm_fcn import LSTMFCN

INCEPTION_KERNELS = (40, 20, 10)   # the three convolutions of a module: widths (the paper's 40 // 2**i)
INCEPTION_FILTERS = 32             # filters of each of a module's four paths (so 128 channels out)
INCEPTION_DEPTH = 6                # modules, a residual connection around every three
BOTTLENECK = 32                    # channels a module's input is reduced to before its long convolutions


def _same(f: Tensor, conv: nn.Conv1d) -> Tensor:
    """``conv`` of ``f`` (B, C, T) with "same" zero padding, the extra step of an even width on the right."""
    k = conv.kernel_size[0]
    return conv(F.pad(f, ((k - 1) // 2, k // 2)))


class InceptionModule(nn.Module):
    """One module: a 1x1 bottleneck (inputs of more than one channel), three convolutions of widths 40, 20 and 10 on
    it, and a max-pool of width 3 followed by a 1x1 convolution beside them; the four joined, batch norm, ReLU.
    (B, C_in, T) -> (B, 4 * filters, T); zero past each series' end."""

    def __init__(self, channels: int, filters: int = INCEPTION_FILTERS):
        super().__init__()
        self.bottleneck = nn.Conv1d(channels, BOTTLENECK, 1, bias=False) if channels > 1 else None
        inner = BOTTLENECK if channels > 1 else channels
        self.convs = nn.ModuleList(nn.Conv1d(inner, filters, k, bias=False) for k in INCEPTION_KERNELS)
        self.pool_conv = nn.Conv1d(channels, filters, 1, bias=False)
        self.norm = MaskedBatchNorm1d(filters * (len(INCEPTION_KERNELS) + 1))
        self.output_size = filters * (len(INCEPTION_KERNELS) + 1)

    def forward(self, f: Tensor, live: Tensor) -> Tensor:
        z = self.bottleneck(f) * live if self.bottleneck is not None else f
        # the max-pool reads only live steps (a padded step is -inf to it, as past the end of a series alone)
        pooled = F.max_pool1d(f.masked_fill(live == 0, float("-inf")), 3, stride=1, padding=1)
        pooled = pooled.masked_fill(live == 0, 0.0)
        paths = [_same(z, conv) for conv in self.convs] + [self.pool_conv(pooled)]
        return torch.relu(self.norm(torch.cat(paths, 1), live)) * live


class Inception(nn.Module):
    """InceptionTime's network without its head: ``INCEPTION_DEPTH`` modules, a residual connection (a 1x1
    convolution and batch norm of the block's input, added before the ReLU) around every three, then the mean over
    each series' own steps. (B, T, D) -> (B, 4 * filters).

    Padding never counts, as in ``FCN``: every module's output is zero past a series' end, batch norm takes its
    statistics over live steps only, the max-pool never reads a padded step, and the mean pools each series' own
    steps.

    >>> net = Inception(2, filters=4).eval()
    >>> x = torch.randn(2, 30, 2)
    >>> alone = net(x[1:, :17], torch.tensor([17]))
    >>> torch.allclose(net(x, torch.tensor([30, 17]))[1:], alone, atol=1e-6)
    True
    """

    def __init__(self, input_size: int, filters: int = INCEPTION_FILTERS, depth: int = INCEPTION_DEPTH):
        super().__init__()
        self.blocks, self.shortcuts = nn.ModuleList(), nn.ModuleList()
        d, block_in = input_size, input_size
        for i in range(depth):
            self.blocks.append(InceptionModule(d, filters))
            d = self.blocks[-1].output_size
            if i % 3 == 2:
                self.shortcuts.append(nn.ModuleDict({"conv": nn.Conv1d(block_in, d, 1, bias=False),
                                                     "norm": MaskedBatchNorm1d(d)}))
                block_in = d
        self.output_size = d

    def forward(self, x: Tensor, lengths) -> Tensor:
        live = live_steps(x, lengths)                                       # (B, 1, T)
        f = block_in = x.transpose(1, 2) * live                             # (B, D, T)
        for i, block in enumerate(self.blocks):
            f = block(f, live)
            if i % 3 == 2:
                cut = self.shortcuts[i // 3]
                f = torch.relu(f + cut["norm"](cut["conv"](block_in), live)) * live
                block_in = f
        return f.sum(-1) / live.sum(-1).clamp(min=1)                        # (B, C)


class LSTMInception(LSTMFCN):
    """LSTM-FCN with InceptionTime's network in place of FCN (``filters``: the filters of each of a module's four
    paths, given as a one-element tuple)."""

    export_refusal = "has a convolutional branch over the whole sequence (LSTM-Inception)"

    def branch(self, input_size: int, filters: tuple[int, ...]) -> nn.Module:
        return Inception(input_size, filters[0] if filters else INCEPTION_FILTERS)
