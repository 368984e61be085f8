"""Error rates of decoded sequences against one or more references (pronunciations, captions).

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

from typing import Sequence


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
