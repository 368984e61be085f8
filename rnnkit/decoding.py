"""Decoding a conditioned generator token by token: greedy and beam search, for any step function.

A decoder (Seq2Seq's attentional decoder, the Captioner's attention LSTM) is given here as a
function ``step(y_prev, carry) -> (logits, carry, alpha)``: the previous tokens ``y_prev`` (K,), a
carry whose leaves are batch-first tensors (K, ...), the next-token logits (K, V) and the attention
weights of the step (K, S), or None. Both searches return the tokens before EOS and the attention
weights of each emitted token, for attention maps. Tokens listed in ``banned`` (a vocabulary's padding, BOS
and unknown symbols: never a target) are never emitted.

Beam search keeps the ``beam`` likeliest partial outputs by total log-probability; a hypothesis
ends at EOS and finished ones are ranked by log-probability per token (length-normalised, as in
Wu et al. 2016's simplest form), so with ``beam=1`` it is greedy decoding.

>>> V = 4                                     # tokens 0..3, EOS = 3: a step that prefers y_prev + 1
>>> def step(y, carry):
...     return torch.nn.functional.one_hot((y + 1).clamp(max=3), V).float() * 5, carry, None
>>> greedy(step, torch.zeros(2, 1), 2, bos=0, eos=3, max_len=10)[0]
[[1, 2], [1, 2]]
>>> beam_search(step, torch.zeros(1, 1), bos=0, eos=3, max_len=10, beam=3)[0]
[1, 2]
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .state import leaves, map_state

Step = Callable[[Tensor, Any], "tuple[Tensor, Any, Tensor | None]"]


@torch.no_grad()
def greedy(step: Step, carry: Any, batch_size: int, *, bos: int, eos: int, max_len: int,
           device=None, banned: Sequence[int] = ()) -> tuple[list[list[int]], list[list[Tensor]]]:
    """The likeliest token at each step until EOS or ``max_len``, for ``batch_size`` sequences at once.

    Returns the tokens of each sequence (EOS excluded) and, when the step gives attention, the
    weights (S,) of each emitted token."""
    y = torch.full((batch_size,), bos, dtype=torch.long, device=device)
    out = [[] for _ in range(batch_size)]
    maps: list[list[Tensor]] = [[] for _ in range(batch_size)]
    done = torch.zeros(batch_size, dtype=torch.bool, device=device)
    for _ in range(max_len):
        logits, carry, alpha = step(y, carry)
        y = _ban(logits, banned).argmax(-1)                             # (B,)
        for b in (~done & (y != eos)).nonzero().flatten().tolist():
            out[b].append(int(y[b]))
            if alpha is not None:
                maps[b].append(alpha[b].detach().cpu())
        done |= y == eos
        if bool(done.all()):
            break
    return out, maps


@torch.no_grad()
def beam_search(step: Step, carry: Any, *, bos: int, eos: int, max_len: int,
                beam: int, banned: Sequence[int] = ()) -> tuple[list[int], list[Tensor]]:
    """The best output of one source (``carry`` has batch 1) by beam search of width ``beam``."""
    if beam < 1:
        raise ValueError(f"beam must be >= 1; received {beam}")
    scores = torch.zeros(1)                                             # (K,) log-probabilities
    seqs: list[list[int]] = [[]]
    maps: list[list[Tensor]] = [[]]
    finished: list[tuple[float, list[int], list[Tensor]]] = []
    for _ in range(max_len):
        y_prev = torch.tensor([s[-1] if s else bos for s in seqs])
        logits, carry, alpha = step(y_prev.to(_device(carry)), carry)
        logp = F.log_softmax(_ban(logits.float(), banned), dim=-1).cpu() + scores[:, None]   # (K, V)
        V = logp.shape[1]
        top = torch.topk(logp.flatten(), min(beam, logp.numel()))
        keep_rows, new_seqs, new_maps, new_scores = [], [], [], []
        for total, flat in zip(top.values.tolist(), top.indices.tolist()):
            row, tok = divmod(flat, V)
            emitted = maps[row] + ([alpha[row].detach().cpu()] if alpha is not None else [])
            if tok == eos:
                finished.append((total / (len(seqs[row]) + 1), seqs[row], maps[row]))
            else:
                keep_rows.append(row)
                new_seqs.append(seqs[row] + [tok])
                new_maps.append(emitted)
                new_scores.append(total)
        if len(finished) >= beam or not keep_rows:
            break
        rows = torch.tensor(keep_rows)
        carry = map_state(lambda t: t[rows.to(t.device)], carry)
        seqs, maps, scores = new_seqs, new_maps, torch.tensor(new_scores)
    else:
        finished += [(s / max(len(q), 1), q, m) for s, q, m in zip(scores.tolist(), seqs, maps)]
    if not finished:            # max_len reached on the step that filled the beam with finished ones
        finished = [(s / max(len(q), 1), q, m) for s, q, m in zip(scores.tolist(), seqs, maps)]
    best = max(finished, key=lambda f: f[0])
    return best[1], best[2]


def _ban(logits: Tensor, banned: Sequence[int]) -> Tensor:
    """``logits`` (K, V) with the ``banned`` tokens at -inf."""
    if not banned:
        return logits
    logits = logits.clone()
    logits[:, list(banned)] = float("-inf")
    return logits


def _device(carry: Any) -> torch.device:
    found = leaves(carry)
    return found[0].device if found else torch.device("cpu")
