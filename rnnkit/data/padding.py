"""Padding variable-length sequences into one batch with their lengths (the Simple RNNs post's masking model)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def pad_sequences(seqs: Sequence[Tensor], padding_value: float = 0) -> tuple[Tensor, Tensor]:
    """Stack sequences (T_b, ...) into (B, T_max, ...) and their lengths (B,).

    >>> x, n = pad_sequences([torch.tensor([1, 2, 3]), torch.tensor([4])])
    >>> x.tolist(), n.tolist()
    ([[1, 2, 3], [4, 0, 0]], [3, 1])
    """
    if len(seqs) == 0:
        raise ValueError("pad_sequences needs at least one sequence; received none")
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    T = int(lengths.max())
    first = seqs[0]
    out = first.new_full((len(seqs), T, *first.shape[1:]), padding_value)
    for b, s in enumerate(seqs):
        out[b, : len(s)] = s
    return out, lengths
