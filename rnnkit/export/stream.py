"""Streaming: feed a sequence in chunks of any sizes, carrying the state, and get exactly the outputs of
one run over the whole sequence (the invariant of DESIGN.md's masking model: running a sequence in
chunks, carrying the state, equals running it whole).

A ``Stream`` wraps a cell, a left-to-right runner (``RNN``, ``Layers``) or a task model with a
recurrent ``runner`` and a ``head`` (``SequenceModel``, ``LanguageModel``, a classifier reading the
last step): each ``feed`` returns the outputs of the chunk's steps (the head's, for a model: logits
per step; for a classifier, the prediction after each step, whose last equals the whole sequence's).

>>> import rnnkit as rk
>>> cell = rk.GRUCell(3, 4)
>>> x = torch.randn(2, 7, 3)
>>> stream = Stream(cell, batch_size=2)
>>> parts = [stream.feed(x[:, :3]), stream.feed(x[:, 3:4]), stream.feed(x[:, 4:])]
>>> bool(torch.allclose(torch.cat(parts, 1), rk.unroll(cell, x)[0], atol=1e-6))
True
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..models import is_ensemble
from ..runners import Bidirectional, Layers, RNN, unroll
from ..sequence import step_mask
from ..state import State
from .step import layers_of, parts, refusal_of

__all__ = ["Stream"]


def _refuse_bidirectional(runner: nn.Module) -> None:
    for layer in layers_of(runner):
        if isinstance(layer, Bidirectional) or (isinstance(layer, RNN) and layer.reverse):
            raise ValueError("expected a left-to-right model to stream; a bidirectional or reversed layer reads "
                             "the whole sequence before its first output")


class Stream:
    """Carry the state of ``module`` across ``feed`` calls; ``reset`` starts a new sequence.

    ``batch_size`` sequences are streamed side by side; ``feed(chunk, lengths)`` takes (B, t, D) features
    or (B, t) token ids, ``lengths`` (B,) the steps of this chunk that belong to each sequence (a
    sequence that has ended keeps its state through the rest of the chunk and outputs zeros).
    """

    def __init__(self, module: nn.Module, batch_size: int = 1, *, state: State = None):
        self.module = module
        if is_ensemble(module):
            raise ValueError(f"expected one model to stream; received an ensemble of {len(module.members)} "
                             f"(stream each member)")
        self.runner, self.model = parts(module)
        _refuse_bidirectional(self.runner)
        refusal = refusal_of(self.model)
        if refusal:
            raise ValueError(f"expected a model that reads one token id or feature vector a step to stream; this "
                             f"one {refusal}")
        readout = getattr(self.model, "readout", "all")
        if readout not in ("all", "last"):
            raise ValueError(f"expected a model reading every step or the last one to stream; received readout "
                             f"{readout!r} (a pooled readout needs the whole sequence)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"expected batch_size a positive int; received {batch_size!r}")
        self.batch_size, self._initial = batch_size, state
        self.reset()

    def reset(self) -> None:
        """Back to the initial state (the module's own, or the one given)."""
        self.state: State = self._initial
        self.steps = 0

    def feed(self, chunk: Tensor, lengths: Tensor | None = None) -> Tensor:
        """The outputs (B, t, O) of the chunk's steps, the state carried into the next call."""
        if chunk.shape[0] != self.batch_size:
            raise ValueError(f"expected chunks of {self.batch_size} sequences; received {chunk.shape[0]}")
        if self.model is not None:
            x = self.model.features(chunk.to(self.model.device))
            y, self.state = self.runner(x, lengths, self.state)                       # (B, t, H)
            out = self.model.head(self.model.dropout(y))                              # (B, t, O)
            if lengths is not None:
                live = step_mask(torch.as_tensor(lengths, device=out.device), out.shape[1])      # (B, t)
                out = out * live.unsqueeze(-1).to(out.dtype)
        elif isinstance(self.runner, (RNN, Layers)):
            out, self.state = self.runner(chunk, lengths, self.state)
        else:
            out, self.state = unroll(self.runner, chunk, lengths=lengths, initial_state=self.state)
        self.steps += chunk.shape[1]
        return out
