"""Attention of a decoder query over encoder memory (additive and multiplicative)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Attention(nn.Module):
    r"""Attention of a decoder query over encoder memory, masked by the source lengths.

    ``kind="additive"`` (Bahdanau et al. 2015): ``score(q, m) = v^T tanh(W_q q + W_m m)``.
    ``kind="dot"`` (Luong et al. 2015, multiplicative "general" form): ``score(q, m) = q^T W m``.
    Returns the context ``sum_j alpha_j m_j`` (B, M) and the weights ``alpha`` (B, S).
    """

    def __init__(self, kind: str, query_size: int, memory_size: int, attn_size: int = 64):
        super().__init__()
        if kind not in ("additive", "dot"):
            raise ValueError(f"attention must be none, additive or dot; received {kind!r}")
        self.kind = kind
        if kind == "additive":
            self.W_q = nn.Linear(query_size, attn_size, bias=False)
            self.W_m = nn.Linear(memory_size, attn_size)
            self.v = nn.Linear(attn_size, 1, bias=False)
        else:
            self.W = nn.Linear(memory_size, query_size, bias=False)

    def forward(self, query: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        if self.kind == "additive":
            scores = self.v(torch.tanh(self.W_q(query).unsqueeze(1) + self.W_m(memory))).squeeze(-1)  # (B, S)
        else:
            scores = torch.bmm(self.W(memory), query.unsqueeze(-1)).squeeze(-1)                      # (B, S)
        alpha = F.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        alpha = torch.nan_to_num(alpha)                   # an empty source attends to nothing
        return torch.bmm(alpha.unsqueeze(1), memory).squeeze(1), alpha
