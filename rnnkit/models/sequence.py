"""Sequence models: tokens or features -> runner -> a linear head, one output per step or per sequence
(language model, classifier, tagger, regressor), and the language model's sampler.

>>> m = SequenceModel(RecurrentConfig(cell="gru", hidden_size=8), vocab_size=5, output_size=3, readout="last")
>>> logits, _ = m(torch.tensor([[1, 2, 3], [4, 0, 0]]), lengths=torch.tensor([3, 1]))
>>> tuple(logits.shape)
(2, 3)
"""
from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells import svd_rescaled_linear_
from ..runners import many_to_one
from ..sequence import step_mask
from ..state import State
from .config import RecurrentConfig, build_runner

READOUTS = ("all", "last", "mean", "max", "attention")
POOLS = ("mean", "max", "attention")


class SequenceModel(nn.Module):
    """Tokens (B, T) or features (B, T, D) -> runner -> linear map to ``output_size``.

    ``readout="all"`` gives one output per step (B, T, O) (language model, tagger, many-to-many
    regression); ``readout="mean"``, ``"max"`` or ``"attention"`` pool the outputs of each sequence's own
    steps (padding never counts; attention pooling scores each step with a learned vector and takes
    the softmax-weighted sum); ``readout="last"`` gives one per sequence (B, O) (Albert's notes' many-to-one: the last
    step, joined with the backward run's first for a bidirectional stack).
    """

    # The face the exporters and the streamer read: ``features`` (the embedding, or the features as they are),
    # ``runner``, ``readout``, ``head``: one token id or feature vector a step. A model built on SequenceModel that
    # cannot be read that way says why here (completing "expected a model that reads one token id or feature vector
    # a step; this one ..."); None: it can.
    export_refusal: str | None = None

    def __init__(self, rnn: RecurrentConfig, *, output_size: int, vocab_size: int | None = None,
                 input_size: int | None = None, embed_size: int = 64, readout: str = "all"):
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("SequenceModel takes either vocab_size (token ids) or input_size (features)")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}; received {readout!r}")
        self.embedding = nn.Embedding(vocab_size, embed_size) if vocab_size is not None else None
        self.runner = build_runner(rnn, embed_size if vocab_size is not None else input_size)
        self.dropout = nn.Dropout(rnn.dropout)
        self.head = nn.Linear(self.runner.output_size, output_size)
        self.readout = readout
        self.embed_dropout = rnn.embed_dropout
        self.score = nn.Linear(self.runner.output_size, 1) if readout == "attention" else None
        if rnn.init == "svd":                      # the notebook rescales its output weights as its recurrent ones
            svd_rescaled_linear_(self.head)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> State:
        return self.runner.initial_state(batch_size, device=device, dtype=dtype)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def features(self, x: Tensor) -> Tensor:
        if self.embedding is None:
            return x
        p = self.embed_dropout
        if not (self.training and p):
            return self.embedding(x)
        # one mask over the vocabulary per batch: a dropped token is dropped at every position it appears
        keep = torch.empty(self.embedding.num_embeddings, 1, device=x.device).bernoulli_(1 - p) / (1 - p)
        return F.embedding(x, self.embedding.weight * keep, self.embedding.padding_idx)

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State = None) -> tuple[Tensor, State]:
        """Outputs on the model's device, whatever device ``x`` comes from."""
        h = self.features(x.to(self.device))                              # (B, T, D)
        if self.readout != "all":
            return self.head(self.dropout(self.read(h, lengths, state))), None
        y, state = self.runner(h, lengths, state)                         # (B, T, H)
        return self.head(self.dropout(y)), state

    def read(self, h: Tensor, lengths, state: State = None) -> Tensor:
        """One vector per sequence (B, H) from the features ``h`` (B, T, D): the last step or a pool."""
        if self.readout == "last":
            return self._last(h, lengths, state)
        y, _ = self.runner(h, lengths, state)                               # (B, T, H)
        return self._pool(y, lengths)

    def _pool(self, y: Tensor, lengths) -> Tensor:
        """(B, H) from the outputs of each sequence's own steps; an empty sequence pools to zeros."""
        B, T = y.shape[:2]
        live = (step_mask(torch.as_tensor(lengths, device=y.device), T) if lengths is not None
                else torch.ones(B, T, dtype=torch.bool, device=y.device)).unsqueeze(-1)     # (B, T, 1)
        if self.readout == "mean":
            return (y * live).sum(1) / live.sum(1).clamp(min=1)
        if self.readout == "max":
            return torch.where(live, y, torch.finfo(y.dtype).min).amax(1) * live.any(1)
        scores = self.score(y).masked_fill(~live, float("-inf"))                             # (B, T, 1)
        weights = torch.nan_to_num(torch.softmax(scores, dim=1))                            # empty: all zero
        return (weights * y).sum(1)

    def _last(self, h: Tensor, lengths, state) -> Tensor:
        layers = self.runner.layers
        states = state if state is not None else (None,) * len(layers)
        for k, (layer, s) in enumerate(zip(layers[:-1], states)):
            if k and self.runner.dropout:
                h = F.dropout(h, self.runner.dropout, self.training)
            h, _ = layer(h, lengths, s)
        if len(layers) > 1 and self.runner.dropout:
            h = F.dropout(h, self.runner.dropout, self.training)
        last, _ = many_to_one(layers[-1], h, lengths, states[-1])
        return last                                                        # (B, H')


class LanguageModel(SequenceModel):
    """Next-token model (Albert's notes and the ML@B slides char-rnn) with ``generate``, which carries the state token by token."""

    def __init__(self, rnn: RecurrentConfig, vocab_size: int, embed_size: int = 64):
        if rnn.bidirectional:
            raise ValueError("a language model reads left to right; received bidirectional=True")
        super().__init__(rnn, output_size=vocab_size, vocab_size=vocab_size, embed_size=embed_size)

    @torch.no_grad()
    def generate(self, prime: Tensor, length: int, *, temperature: float = 1.0, top_k: int | None = None,
                 allowed: Tensor | None = None, generator: torch.Generator | None = None) -> Iterator[int]:
        """Yield ``length`` sampled token ids after the ``prime`` ids (T0,), as Albert's notes' ``generate_text``.

        The state is carried from step to step; ``temperature`` divides the logits; ``top_k`` keeps the k
        likeliest tokens; ``allowed`` (V,) bool masks out tokens (Albert's notes' printable-only filter).
        """
        self.eval()
        logits, state = self(prime.view(1, -1))
        logits = logits[0, -1]
        for _ in range(length):
            scores = logits / max(temperature, 1e-8)
            if allowed is not None:
                scores = scores.masked_fill(~allowed.to(scores.device), float("-inf"))
            if top_k:
                kth = torch.topk(scores, min(top_k, scores.numel())).values[-1]
                scores = scores.masked_fill(scores < kth, float("-inf"))
            token = int(torch.multinomial(F.softmax(scores, dim=-1).cpu(), 1, generator=generator))
            yield token
            logits, state = self(torch.tensor([[token]], device=self.device), state=state)
            logits = logits[0, -1]
