"""One step of a cell, runner or task model with its state flattened to tensors: what the exports trace.

>>> import rnnkit as rk
>>> step = Step(rk.LSTMCell(3, 4), head=False)
>>> y, h, c = step(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 4))
>>> tuple(y.shape), tuple(c.shape)
((2, 4), (2, 4))
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..models import SequenceModel
from ..runners import Bidirectional, Layers, RNN, unroll
from ..state import leaves, map_state

__all__ = ["Step", "parts", "layers_of", "takes_tokens", "input_size", "example", "check_eval"]


def parts(module: nn.Module) -> tuple[nn.Module, SequenceModel | None]:
    """(runner or cell, the task model around it or None): a task model is a ``SequenceModel`` (its export face:
    features, runner, readout, head); anything else is exported as a bare runner or cell."""
    if isinstance(module, SequenceModel):
        return module.runner, module
    return module, None


def refusal_of(model: SequenceModel | None) -> str | None:
    """Why ``model`` cannot be read one token id or feature vector a step (None: it can, or it is a bare runner)."""
    return model.export_refusal if model is not None else None


def layers_of(runner: nn.Module) -> list[nn.Module]:
    """The layers of a runner, bottom first: a ``Layers``' own, else the runner (or cell) alone."""
    return list(runner.layers) if isinstance(runner, Layers) else [runner]


def takes_tokens(module: nn.Module) -> bool:
    runner, model = parts(module)
    if model is not None:
        return model.embedding is not None
    return bool(getattr(runner, "takes_tokens", False))


def input_size(module: nn.Module) -> int:
    return parts(module)[0].input_size


class Step(nn.Module):
    """One step of a runner or cell (and, for a task model, its embedding and head), state flattened."""

    def __init__(self, module: nn.Module, *, head: bool):
        super().__init__()
        self.runner, self.model = parts(module)
        self.head = head and self.model is not None
        self.template = self.runner.initial_state(1)

    def forward(self, x_t: Tensor, *flat: Tensor):
        values = iter(flat)
        state = map_state(lambda _: next(values), self.template)
        x = x_t.unsqueeze(1)                                                   # (B, 1[, D])
        if self.model is not None:
            x = self.model.features(x)
        if isinstance(self.runner, (RNN, Layers, Bidirectional)):
            y, state = self.runner(x, None, state)
        else:
            y, state = unroll(self.runner, x, initial_state=state)
        y = y[:, 0]
        if self.head:
            y = self.model.head(y)
        return (y, *leaves(state))


def example(module: nn.Module, runner: nn.Module, batch: int = 2) -> tuple[Tensor, ...]:
    """Zero inputs ``(x_t, *state)`` of one step of ``module`` for tracing (ids or features)."""
    dtype = next(module.parameters()).dtype
    x_t = (torch.zeros(batch, dtype=torch.long) if takes_tokens(module)
           else torch.zeros(batch, input_size(module), dtype=dtype))
    state = [t.expand(batch, *t.shape[1:]).contiguous().to(dtype)
             for t in leaves(runner.initial_state(1, dtype=dtype))]
    return (x_t, *state)


def check_eval(module: nn.Module, *, whole_sequence: bool = False) -> None:
    """Exports freeze the inference graph: dropout and zoneout must be off; a task model's pooled readout
    (mean, max, attention over every step) exports only with the whole sequence, never as one step."""
    refusal = refusal_of(parts(module)[1])
    if refusal:
        raise ValueError(f"expected a model that reads one token id or feature vector a step to export; this one "
                         f"{refusal}")
    readout = getattr(parts(module)[1], "readout", "all")
    if readout not in ("all", "last") and not whole_sequence:
        raise ValueError(f"expected a model reading every step or the last one to export one step; received "
                         f"readout {readout!r}, which pools the whole sequence (export --what sequence)")
    if any(m.training for m in module.modules()):
        raise ValueError("expected a model in eval mode to export (call .eval(): dropout and zoneout off)")
