"""rnnkit from Python: ``fit`` trains a task as ``rnnkit train`` does, ``load`` opens a run folder, and a
``Run`` predicts, evaluates, generates and exports.

``fit`` and the command line share one training function, so the same options and seed give the same run
folder (bit-identical ``model.safetensors``) with the same promises: a run folder that alone rebuilds the
model, writes that a kill cannot tear, ``resume=True``, and every mistake one ``UserError`` line. Options
are the ``rnnkit train TASK`` flags with underscores (``hidden_size=8``, ``max_steps=20``, ``seed=0``,
``device="cpu"``, ``tensorboard=False``); ``None`` leaves an option to the recipe.

Data is a path, as on the command line, or data in memory, which ``fit`` writes into the run folder's
``data/`` in a format the task reads (and notes under ``in_memory`` in ``config.json``), so it trains
exactly as the same data in a file does:

- classify and regress: ``(X, y)``, X texts (a list of strings) or series (a 2D array (N, T) of univariate
  series, a 3D array (N, D, T), or a list of (T, D) or (T,) arrays of any lengths; numpy or torch), y the
  labels (any hashable values: predictions give strings, numbers and booleans back as they were, other
  values as their text, which ``config.json`` can hold) or the targets;
- seq2seq: a list of (source, target) strings; forecast: a 1D array, a 2D array (N, K), a dict of columns
  or a DataFrame; charlm: the text as a list of strings, joined as they are (a str is a path), or bytes.

Without ``run_dir`` a run trains in a temporary folder that lives as long as its ``Run`` (``run.run_dir``;
``run.close()`` removes it sooner); give ``run_dir`` to keep it.
"""
from __future__ import annotations

import csv
import json
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np
import torch

from .data.in_memory import examples, label_names, target_names, write_columns, write_examples, write_pairs
from .runtime.checkpoint import atomic_write_bytes
from .errors import UserError
from .runs import (check_new, discard_unfinished, merged_settings, open_run, read_config, setting_names, task_of,
                   train_run, unknown_names)
from .tasks import TASKS
from .tasks.base import tasks_with

__all__ = ["fit", "load", "Run"]

# keywords of ``fit`` beside the settings of the config dataclasses, as the command line has them
RUN_OPTIONS = ("config", "resume", "device", "precision", "tensorboard")
RENAMED = {"max_steps": "steps"}          # flag name -> config field
# what each form of data in memory (``Task.in_memory``) is, for the error that says so
_IN_MEMORY = {"labelled": " or (X, y)", "pairs": " or a list of (source, target) pairs",
              "columns": " or an array, a dict of columns or a DataFrame",
              "text": " or the text as a list of strings (joined as they are) or bytes"}


def fit(task: str, data=None, run_dir=None, *, verbose: bool = True, figures: bool = True, **options) -> "Run":
    """Train ``task`` on ``data`` into ``run_dir`` (see the module docstring) and return the ``Run``.

    ``verbose``: print the command line's lines and progress bar; ``figures``: draw the learning curve and the
    task's figures into the run folder. An unknown option is a ``UserError`` naming it and the options closest
    to it."""
    if task not in TASKS:
        raise UserError(f"expected a task, one of {', '.join(TASKS)}; received {task!r}")
    cls = TASKS[task]
    known = (setting_names(cls) - set(RENAMED.values())) | set(RENAMED) | set(RUN_OPTIONS)
    unknown = unknown_names(options, known)
    if unknown:
        raise UserError(f"expected options named like the flags of `rnnkit train {task}`; unknown: "
                        f"{', '.join(unknown)}")
    run_options = {k: options.pop(k) for k in RUN_OPTIONS if k in options}
    given = {RENAMED.get(k, k): v for k, v in options.items() if v is not None}
    resume, device = bool(run_options.get("resume")), run_options.get("device") or "auto"
    temporary = None
    if run_dir is None:
        if resume:
            raise UserError("expected run_dir with resume=True: the run folder to continue")
        temporary = Path(tempfile.mkdtemp(prefix=f"rnnkit-{task}-"))
        run_dir = temporary / "run"
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    try:
        if resume:
            settings = {k: given.get(k) for k in ("steps", "max_time")}
        else:
            check_new(run_dir)
            settings = merged_settings(cls, run_options.get("config"), given)
        path, record = _stage(cls, data, run_dir / "data", settings)
        train_run(task, settings, path, run_dir, resume=resume, device=device,
                  precision=run_options.get("precision") or "fp32", tensorboard=run_options.get("tensorboard"),
                  record=record, echo=print if verbose else None, progress=verbose, figures=figures)
        run = load(run_dir, device=device)
    except BaseException:
        if created:
            discard_unfinished(run_dir)
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
        raise
    if temporary is not None:          # removed with the Run (or by run.close())
        run._temporary = weakref.finalize(run, shutil.rmtree, temporary, ignore_errors=True)
    return run


def _stage(task, data, folder: Path, settings: dict) -> tuple[str | None, dict | None]:
    """(the path the task class ``task`` reads, what was written) for ``data``: a path as it is, data in memory
    written into ``folder`` in the task's form (``Task.in_memory``); a ``valid`` setting given in memory is written
    beside it and becomes its path."""
    if data is None or isinstance(data, (str, Path)):
        return (None if data is None else str(data)), None
    form = task.in_memory
    if form == "labelled":
        columns = {k: settings[k] for k in ("text_column", "label_column") if settings.get(k)}
        path, record = _write_labelled(task, data, folder, "train", columns)
        if settings.get("valid") is not None and not isinstance(settings["valid"], (str, Path)):
            settings["valid"] = str(_write_labelled(task, settings["valid"], folder, "valid", columns,
                                                    classes=record.get("labels"))[0])
        return str(path), record
    if form == "pairs":
        path = write_pairs(folder / "train.tsv", data)
        return str(path), {"data": str(path), "examples": len(data)}
    if form == "columns":
        path = write_columns(folder / "series.csv", data)
        return str(path), {"data": str(path)}
    if form == "text" and (isinstance(data, bytes) or _texts(data)):
        path = folder / ("train.bin" if isinstance(data, bytes) else "train.txt")
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data if isinstance(data, bytes) else "".join(data).encode("utf-8"))
        return str(path), {"data": str(path)}
    raise UserError(f"expected the {task.name} task's data as a path{_IN_MEMORY.get(form, '')}; received "
                    f"{type(data).__name__}")


def _texts(data) -> bool:
    return isinstance(data, (list, tuple)) and len(data) > 0 and all(isinstance(t, str) for t in data)


def _write_labelled(task, data, folder: Path, stem: str, columns: dict, *, classes=None):
    """(path, record) of ``(X, y)`` written for a classifier (labels; ``classes``: the training data's (file label,
    value) pairs, which other data must use) or a regressor (targets) of the task class ``task``; ``columns``: the
    text and label columns' names, where the settings give them."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise UserError(f"expected the {task.name} data in memory as a pair (X, y); received {type(data).__name__}"
                        + (f" of {len(data)}" if isinstance(data, (tuple, list)) else ""))
    x, y = data
    kind, xs = examples(x, "X")
    if not task.outputs_classes:
        names, record = target_names(y, len(xs)), {}
    elif classes is None:
        names, pairs = label_names(y)
        record = {"labels": [list(p) for p in pairs]}
    else:
        names = _names_of(y, classes)
        record = {}
    path = write_examples(folder, stem, kind, xs, names, **columns)
    return path, {"data": str(path), "examples": len(xs), "kind": kind, **record}


def _names_of(y, classes: list) -> list[str]:
    """The file labels of the labels ``y`` of a run whose classes are (file label, value) pairs."""
    name = {_key(value): label for label, value in classes}
    values = [v.item() if isinstance(v, np.generic) else v for v in (y.tolist() if hasattr(y, "tolist") else y)]
    unseen = [v for v in dict.fromkeys(values) if _key(v) not in name]
    if unseen:
        raise UserError(f"expected labels seen in training {[v for _, v in classes]}; received {len(unseen)} never "
                        f"seen: {unseen[:5]}")
    return [name[_key(v)] for v in values]


def _key(value):
    """A label as ``config.json`` keeps it (its JSON form), to match labels given again in Python."""
    value = value.item() if isinstance(value, np.generic) else value
    return json.dumps(value if isinstance(value, (str, int, float, bool)) else str(value))


def load(run_dir, *, device: str = "cpu") -> "Run":
    """The ``Run`` in the folder ``run_dir``, its model on ``device`` (auto, cpu, cuda[:N], mps)."""
    run_dir = Path(run_dir)
    task, model = open_run(run_dir, device=device)
    return Run(task, model, read_config(run_dir), run_dir)


class Run:
    """A trained run: ``model`` (the torch module, in eval mode), ``task`` (its data's vocabulary, labels and
    scaling), ``config`` (``config.json``), ``run_dir`` (None once unpickled: a pickle holds the config, the
    weights and the metrics, never a folder that may be gone)."""

    def __init__(self, task, model: torch.nn.Module, config: dict, run_dir: Path | None, *,
                 metrics: dict | None = None):
        self.task, self.model, self.config, self.run_dir = task, model, config, run_dir
        self._metrics, self._temporary = metrics, None

    def __repr__(self) -> str:
        return f"Run({self.task.name!r}, {str(self.run_dir) if self.run_dir else 'in memory'})"

    # -- pickling: the config, the weights and the metrics ---------------------------------
    def __getstate__(self) -> dict:
        from safetensors.torch import save
        weights = save({k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()})
        return {"config": self.config, "weights": weights, "metrics": self.metrics}

    def __setstate__(self, state: dict) -> None:
        from safetensors.torch import load as load_weights
        task, _ = task_of(state["config"], "the pickled run")
        model = task.build_model()
        model.load_state_dict(load_weights(state["weights"]))
        self.__init__(task, model.eval(), state["config"], None, metrics=state["metrics"])

    def close(self) -> None:
        """Remove the run's temporary folder now, if it trained in one; the run stays usable in memory."""
        if self._temporary is not None:
            self._metrics = self.metrics
            self._temporary()
            self._temporary, self.run_dir = None, None

    # -- what the run says ------------------------------------------------------------------
    @property
    def metrics(self) -> dict:
        """``{"valid": the last validation's metrics, "test": the test metrics (where the task has a test set),
        "history": metrics.csv's rows}``, read from the run folder."""
        if self.run_dir is None:
            return self._metrics or {}
        rows = []
        if (self.run_dir / "metrics.csv").exists():
            with open(self.run_dir / "metrics.csv", newline="") as f:
                rows = [{k: float(v) if v not in ("", None) else None for k, v in row.items()}
                        for row in csv.DictReader(f)]
        last = next((r for r in reversed(rows) if any(k.startswith("valid_") and v is not None for k, v in r.items())),
                    {})
        out = {"valid": {k[len("valid_"):]: v for k, v in last.items() if k.startswith("valid_") and v is not None},
               "history": rows}
        if (self.run_dir / "test_metrics.json").exists():
            out["test"] = json.loads((self.run_dir / "test_metrics.json").read_text())
        return out

    @property
    def classes(self) -> list:
        """A classifier's labels in the order of ``predict_proba``'s columns, as they were given to ``fit``."""
        self._expect_classes("has classes")
        value = {label: v for label, v in self.config.get("in_memory", {}).get("labels", [])}
        return [value.get(label, label) for label in self.task.meta["labels"]]

    def _classifies(self) -> bool:
        """A run that labels examples given as ``fit``'s X (a classifier, not a regressor)."""
        return self.task.in_memory == "labelled" and self.task.outputs_classes

    def _expect_classes(self, what: str) -> None:
        if not self._classifies():
            names = [n for n, t in TASKS.items() if t.in_memory == "labelled" and t.outputs_classes]
            raise UserError(f"expected a {' or '.join(names)} run, which {what}; this is a {self.task.name} run")

    # -- predictions ------------------------------------------------------------------------
    def _encoded(self, x) -> list[torch.Tensor]:
        """The model's inputs for the examples ``x`` of a classify or regress run."""
        kind, xs = examples(x, "x")
        if kind != self.task.meta["kind"]:
            raise UserError(f"expected {self.task.meta['kind']} for this run (it was trained on "
                            f"{self.task.meta['kind']}); received {kind}")
        raw = xs if kind == "text" else [torch.from_numpy(s) for s in xs]
        dummy = [self.task.meta["labels"][0]] * len(raw) if self.task.outputs_classes else None
        return self.task.encode_all(raw, dummy, "the input")[0]

    def predict(self, x):
        """classify: the labels of the examples ``x`` (a list; one label for one text); regress: their targets
        (a float64 array; one float for one text); any other task: the lines `rnnkit predict RUN INPUT` prints for
        the input ``x`` (a forecast's window may be numbers)."""
        single = isinstance(x, str)
        many = [x] if single else x
        if self._classifies():
            classes = self.classes
            labels = [classes[i] for i in self.task.logits(self.model, self._encoded(many)).argmax(-1).tolist()]
            return labels[0] if single else labels
        if self.task.in_memory == "labelled":                              # a regressor
            values = self.task.values(self.model, self._encoded(many)).numpy()
            return float(values[0]) if single else values
        if not self.task.predicts:
            raise UserError(f"expected a run of a task with predictions; this is a {self.task.name} run "
                            f"(Run.generate)")
        if not single:                    # a window of numbers (forecast), as the command line takes it
            x = ",".join(repr(float(v)) for v in np.asarray(x, dtype=np.float64).reshape(-1))
        return self.task.predict(self.model, x)

    def predict_proba(self, x) -> np.ndarray:
        """A classifier's probabilities (N, C) for examples ``x``, columns in the order of ``classes``."""
        self._expect_classes("gives probabilities")
        return torch.softmax(self.task.logits(self.model, self._encoded(x)).float(), dim=-1).numpy()

    def evaluate(self, data=None) -> dict:
        """The task's metrics on ``data`` (a path, or data in memory as ``fit`` takes it), or on the run's own
        validation data (None), as ``rnnkit eval`` prints them."""
        if data is None or isinstance(data, (str, Path)):
            self.task.load_eval_data(None if data is None else str(data))
            return self.task.evaluate(self.model)
        with tempfile.TemporaryDirectory(prefix="rnnkit-eval-") as folder:
            if self.task.in_memory == "labelled":
                classes = self.config.get("in_memory", {}).get("labels") or \
                    [[label, label] for label in self.task.meta.get("labels", [])]
                columns = {"text_column": self.task.cfg.text_column, "label_column": self.task.cfg.label_column}
                path = _write_labelled(type(self.task), data, Path(folder), "eval", columns,
                                       classes=classes if self.task.outputs_classes else None)[0]
            else:
                path, _ = _stage(type(self.task), data, Path(folder), {})
            self.task.load_eval_data(str(path))
            return self.task.evaluate(self.model)

    def generate(self, prime: str = "", length: int = 500, *, temperature: float = 1.0, top_k: int = 0,
                 printable: bool = False, seed: int | None = None) -> str:
        """A charlm run's text after ``prime`` (``length`` symbols, without the prime), as `rnnkit generate`
        samples it; the same ``seed`` gives the same text."""
        from .generate import generate_text
        if not self.task.streams_text:
            raise UserError(f"expected a run of a task that generates text ({', '.join(tasks_with('streams_text'))}), "
                            f"as `rnnkit generate` does; this is a {self.task.name} run")
        return "".join(generate_text(self.task, self.model, prime, length, temperature=temperature, top_k=top_k,
                                     printable=printable, seed=seed))

    def export(self, path, *, format: str = "onnx", what: str = "sequence") -> Path:
        """The run as an ONNX file (``what``: the whole sequence, or one step) or a torch.export program of one
        step (``format="torch"``), as `rnnkit export` writes it; returns ``path``."""
        from .export.run import export_run
        export_run(self.task, self.model, Path(path), format=format, what=what, name=repr(self))
        return Path(path)
