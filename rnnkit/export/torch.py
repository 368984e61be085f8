"""torch.export of one step of a task model (for ExecuTorch and AOTInductor): ``(x_t, state...) ->
(y_t, state'...)`` with a dynamic batch, saved with ``torch.export.save``; the run's metadata rides
along as the extra file ``rnnkit.json``.

>>> import rnnkit as rk, tempfile
>>> path = tempfile.mkdtemp() + "/gru.pt2"
>>> export_step_program(rk.GRUCell(3, 4).eval(), path)
>>> program = torch.export.load(path)
>>> y, h = program.module()(torch.randn(5, 3), torch.zeros(5, 4))
>>> tuple(y.shape)
(5, 4)
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import torch
from torch import nn

from ..runtime.checkpoint import atomic_write_bytes
from .step import Step, check_eval, example, parts

__all__ = ["export_step_program"]


def export_step_program(module: nn.Module, path: Path | str, *, metadata: dict | None = None) -> None:
    """Write the step program of ``module`` (a cell, runner or task model in eval mode) to ``path``."""
    check_eval(module)
    runner, _ = parts(module)
    inputs = example(module, runner)
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(Step(module, head=True), inputs,
                                  dynamic_shapes=({0: batch}, tuple({0: batch} for _ in inputs[1:])))
    # serialized in memory, then written by the one atomic writer: torch's own file writer reports a full
    # disk as "unexpected pos" and can abort the process from a destructor
    buf = io.BytesIO()
    torch.export.save(program, buf, extra_files={"rnnkit.json": json.dumps(metadata or {})})
    atomic_write_bytes(Path(path), buf.getvalue())
