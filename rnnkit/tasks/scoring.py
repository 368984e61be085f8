"""What the two decoder tasks (seq2seq, caption) share: the target framing, the teacher-forced loss and
token accuracy, and error rates of decoded sequences against one or more references.

Targets are framed ``BOS ... EOS`` with the ids of ``SPECIALS``; the teacher-forced loss is the mean
cross-entropy of each next target token given the ones before it, padding excluded.

The token error rate is the edit distance (insertions, deletions, substitutions; Levenshtein 1966)
summed over outputs, divided by the summed reference lengths; with several references for one
source (a word's pronunciations) each output is scored against its closest one, as the CMUdict
grapheme-to-phoneme literature does (Bisani & Ney 2008). The sequence error rate is the share of
outputs equal to none of their references (the word error rate of G2P).

>>> edit_distance("kitten", "sitting")
3
>>> error_rates([["a", "b"], ["c"]], [[["a", "b"]], [["d", "f"], ["c", "e"]]])   # 0 + 1 edits over 2 + 2
{'token_error_rate': 0.25, 'sequence_error_rate': 0.5}
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def teacher_forced(model: nn.Module, batch) -> tuple[Tensor, Tensor, Tensor]:
    """(mean loss, logits (B, T-1, V), mask (B, T-1)) of ``model(x, lengths, targets[:, :-1])`` against
    ``targets[:, 1:]``, for ``batch.y = (targets (B, T) framed BOS ... EOS, their lengths (B,))``."""
    tgt, tgt_len = batch.y
    logits = model(batch.x, batch.lengths, tgt[:, :-1])                  # (B, T-1, V)
    gold = tgt[:, 1:]
    mask = torch.arange(gold.shape[1], device=gold.device).unsqueeze(0) < (tgt_len - 1).unsqueeze(1)
    ce = F.cross_entropy(logits.transpose(1, 2), gold, reduction="none")
    return (ce * mask).sum() / mask.sum(), logits, mask


@torch.no_grad()
def teacher_forced_scores(model: nn.Module, batches: Iterable) -> dict[str, float]:
    """Token accuracy and loss (mean over sequences) under teacher forcing, over ``batches``."""
    right, total, loss_sum, count = 0, 0, 0.0, 0
    for batch in batches:
        loss, logits, mask = teacher_forced(model, batch)
        n = len(batch.lengths)
        loss_sum, count = loss_sum + loss.item() * n, count + n
        right += ((logits.argmax(-1) == batch.y[0][:, 1:]) & mask).sum().item()
        total += mask.sum().item()
    return {"token_acc": right / max(total, 1), "loss": loss_sum / max(count, 1)}


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance between two sequences, by the two-row dynamic programme."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def error_rates(outputs: list[Sequence], references: list[list[Sequence]]) -> dict[str, float]:
    """Token and sequence error rates of ``outputs[i]`` against its references ``references[i]``."""
    if len(outputs) != len(references) or not outputs:
        raise ValueError(f"expected one non-empty list of references per output; received {len(outputs)} outputs "
                         f"and {len(references)} reference lists")
    errors, length, wrong = 0, 0, 0
    for out, refs in zip(outputs, references):
        out = list(out)
        dist, ref = min((edit_distance(out, list(r)), len(r)) for r in refs)
        errors, length, wrong = errors + dist, length + ref, wrong + (dist > 0)
    return {"token_error_rate": errors / max(length, 1), "sequence_error_rate": wrong / len(outputs)}
