"""A trained run as a file: ONNX (one step, or the whole sequence) or a torch.export program of one step, with
the run's vocabulary, labels and scaling in the file's metadata. ``rnnkit export`` and ``Run.export`` call it."""
from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict
from pathlib import Path

from torch import nn

from ..errors import UserError
from ..models import SequenceModel, is_ensemble

FORMATS, WHATS = ("onnx", "torch"), ("sequence", "step")


def export_run(task, model: nn.Module, out: Path, *, format: str = "onnx", what: str = "sequence",
               name: str = "the run") -> None:
    """Write ``model`` (of ``task``; ``name`` says which run in errors) to ``out``."""
    out = Path(out)
    if format not in FORMATS or what not in WHATS:
        raise UserError(f"expected --format onnx or torch and --what sequence or step; received {format!r}, {what!r}")
    if not out.parent.is_dir():
        raise UserError(f"expected --out in an existing folder; received {out}")
    if is_ensemble(model):
        raise UserError(f"expected a run of one model to export; {name} is an ensemble of {len(model.members)} "
                        f"(--ensemble), whose members ONNX would run one by one")
    if not isinstance(model, SequenceModel):
        raise UserError(f"expected a run whose model is a recurrent stack with a head (charlm, classify, regress, "
                        f"forecast, reber, memory, tag); {name} is a {task.name} run")
    if model.export_refusal:
        raise UserError(f"expected a model that reads one token id or feature vector a step; {name} "
                        f"{model.export_refusal}")
    model = model.float().eval()
    metadata = {"rnnkit_task": task.name, "rnnkit_meta": json.dumps(task.meta),
                "rnnkit_model": json.dumps(asdict(task.model_cfg)),
                "rnnkit_task_config": json.dumps(asdict(task.cfg)), "rnnkit_what": what,
                "rnnkit_readout": model.readout}
    if format == "torch":
        if what != "step":
            raise UserError("expected --what step with --format torch (a torch.export program is one step; "
                            "loop over it, or export the sequence with --format onnx)")
        from .torch import export_step_program
        export_step_program(model, out, metadata=metadata)
        return
    # export.onnx imports onnx only when it runs, and torch.onnx needs onnxscript: check both first
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"expected the packages onnx and onnxscript for --format onnx (pip install onnx "
                        f"onnxscript); missing: {', '.join(missing)}")
    from .onnx import export_sequence, export_step
    try:
        (export_step if what == "step" else export_sequence)(model, out, metadata=metadata)
    except ValueError as e:
        raise UserError(str(e)) from None
