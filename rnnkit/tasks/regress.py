"""regress: many-to-one sequence regression, one real number per series or text (the classify task's readers,
models and recipes with a regression head).

The data are those of ``classify`` with a number where the label stands: a ``.ts`` file (the Monash
regression archive's ``@targetLabel true``, or ``@classLabel true`` with numbers), a UCR-style ``.tsv``,
``.arff`` or ``.txt``, a folder with ``NAME_TRAIN`` and ``NAME_TEST`` files, or a CSV / TSV / JSONL of
texts with a ``label`` column of numbers. The model reads the sequence as the classifier does (LSTM-FCN
for series, a bidirectional LSTM for text, ``--readout``) and a linear layer gives the target, trained on
the mean squared error of the targets standardised by the training set's mean and sd. Validation holds
out a random tenth where that is at least ``MIN_HELD_OUT`` examples (or ``--valid-fraction``, or
``--valid FILE``); otherwise the whole file trains and the final weights are kept. Reported in the
targets' units: MSE, MAE and R² (1 - the MSE over the variance of the targets scored).
"""
from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.series_files import SUFFIXES, read_series, split_files
from ..data.text import read_labelled
from ..data.tsfile import parse_ts
from ..errors import UserError
from ..models import is_ensemble
from ..state import State
from .base import Batch, data_path, split_off
from .classify import (HELD_OUT, MIN_HELD_OUT, STATISTICS_STEPS, Classify, ClassifyConfig, _is_series, capped_sample,
                       convolution_meta, normalization_for, series_meta, text_inputs)

# the choices a series or a text set makes where an option says auto
AUTO = {"series": {"model": "lstm-fcn", "readout": "last"}, "text": {"model": "rnn", "readout": "max"}}


def read_targets(path: Path, kind: str, cfg: ClassifyConfig) -> tuple[list, list[float]]:
    """(series or texts, their targets) of a file; a target that is not a finite number is one error naming it."""
    if kind == "series" and path.suffix.lower() == ".ts":
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        # the regression archive's files differ from classification's in this header line alone
        raw_x, raw_y, _ = parse_ts(re.sub(r"(?im)^(\s*)@targetlabel(\s+)true\b", r"\1@classLabel\2true", text),
                                   str(path))
    elif kind == "series":
        raw_x, raw_y = read_series(path)
    else:
        pairs = read_labelled(path, text_column=cfg.text_column, label_column=cfg.label_column)
        raw_x, raw_y = [t for t, _ in pairs], [y for _, y in pairs]
    if kind == "series" and cfg.max_len:
        raw_x = [s[: cfg.max_len] for s in raw_x]
    targets = []
    for i, y in enumerate(raw_y):
        try:
            targets.append(float(y))
        except ValueError:
            targets.append(math.nan)
        if not math.isfinite(targets[-1]):
            raise UserError(f"expected a finite number as the target of example {i + 1} of {path}; received {y!r}")
    return raw_x, targets


class Regress(Classify):
    name = "regress"
    outputs_classes = False
    primary = "mse"
    higher_is_better = False
    confusion = None             # a classifier's confusion matrix: a regression's scores are errors, it has none

    # ------------------------------------------------------------------ data
    @classmethod
    def prepare(cls, cfg: ClassifyConfig, model_cfg, data, *, seed: int = 0) -> "Regress":
        path = data_path(data, cls.name)
        test_path, split = None, (split_files(path) if path.is_dir() else None)
        if split is not None:                      # an archive folder: NAME_TRAIN / NAME_TEST
            path, test_file = split
            test_path = str(test_file) if test_file is not None else None
        kind = "series" if _is_series(path) else "text"
        if kind == "text" and (cfg.model == "lstm-fcn" or cfg.normalize in ("series", "none")):
            raise UserError(f"--model lstm-fcn and --normalize are for series data; {path} holds texts")
        if cfg.init_from and kind != "text":
            raise UserError(f"--init-from starts a text model from a language model; {path} holds series")
        if cfg.tokens == "auto":
            cfg = replace(cfg, tokens="char" if cfg.init_from else "word")
        cfg = replace(cfg, **{k: v for k, v in AUTO[kind].items() if getattr(cfg, k) == "auto"})
        raw_x, raw_y = read_targets(path, kind, cfg)
        y = torch.tensor(raw_y, dtype=torch.float64)
        # no classes: "labels" is empty for the classifier's encoding of the inputs, which looks labels up
        meta = {"kind": kind, "data": str(path), "valid": cfg.valid or None, "test": test_path, "labels": [],
                "target_mean": y.mean().item(), "target_std": _spread(y)}
        if kind == "text":
            cfg, model_cfg, meta["vocab"] = text_inputs(cfg, model_cfg, raw_x)
            meta.update({"init_from": cfg.init_from} if cfg.init_from else {})
        else:
            meta.update(series_meta(raw_x, cfg, path))
            if cfg.normalize == "auto":
                cfg = replace(cfg, normalize=normalization_for(raw_x))
        task = cls(cfg, model_cfg, meta, seed=seed)
        x, y = task.encode_all(raw_x, raw_y, str(path))
        meta.update(convolution_meta(cfg, x, meta, seed))     # the convolutions' widths; the length the head reads
        share = 0.0 if cfg.valid else cfg.valid_fraction or (HELD_OUT if HELD_OUT * len(y) >= MIN_HELD_OUT else 0.0)
        meta["held_out"] = share
        if cfg.valid:
            task.train_x, task.train_y = x, y
            task.load_eval_data(cfg.valid)
        elif share:
            tr, va = split_off(len(y), share, seed)
            task.train_x, task.train_y = [x[i] for i in tr], y[tr]
            task.valid_x, task.valid_y = [x[i] for i in va], y[va]
        else:     # too few examples to choose weights on a share of them: train on all, keep the final weights
            task.train_x, task.train_y = x, y
            shown = capped_sample([len(s) for s in x], STATISTICS_STEPS, seed)
            task.valid_x, task.valid_y = [x[i] for i in shown], y[shown]
        task.keeps_last = not cfg.valid and not share
        return task

    @staticmethod
    def _read(path: Path, kind: str, cfg: ClassifyConfig) -> tuple[list, list[float]]:
        return read_targets(Path(path), kind, cfg)

    def encode_all(self, raw_x: list, raw_y: list[float] | None, where: str) -> tuple[list[Tensor], Tensor]:
        """Model inputs, as the classifier encodes them, and the targets standardised by the training set's mean
        and sd (zeros without targets)."""
        x, _ = super().encode_all(raw_x, [], where)
        y = torch.zeros(len(x)) if raw_y is None else \
            ((torch.tensor(raw_y, dtype=torch.float64) - self.meta["target_mean"]) / self.meta["target_std"]).float()
        return x, y

    def load_eval_data(self, data) -> None:
        path = data_path(data or self.meta.get("valid") or self.meta["data"], self.name)
        raw_x, raw_y = self._read(path, self.meta["kind"], self.cfg)
        self.valid_x, self.valid_y = self.encode_all(raw_x, raw_y, str(path))
        if not data and not self.meta.get("valid") and self.meta.get("held_out"):   # the run's own split
            _, va = split_off(len(self.valid_y), self.meta["held_out"], self.seed)
            self.valid_x, self.valid_y = [self.valid_x[i] for i in va], self.valid_y[va]

    def output_size(self) -> int:
        """One output: the standardised target."""
        return 1

    # ------------------------------------------------------------------ training and scores
    def loss(self, model: nn.Module, batch: Batch, carry: State) -> tuple[Tensor, State, int]:
        # an ensemble's members each learn from their own error, not the mean's
        if is_ensemble(model):
            out = model(batch.x, batch.lengths, each=True)[0]                            # (K, B, 1)
            return sum(F.mse_loss(o[:, 0], batch.y) for o in out), None, len(batch.y)
        return F.mse_loss(model(batch.x, batch.lengths)[0][:, 0], batch.y), None, len(batch.y)

    def values(self, model: nn.Module, xs: list[Tensor]) -> Tensor:
        """The model's predictions for the inputs ``xs`` in the targets' units, float64 (N,)."""
        return self.logits(model, xs)[:, 0].double() * self.meta["target_std"] + self.meta["target_mean"]

    def _scores(self, model: nn.Module, xs: list[Tensor], y: Tensor) -> dict[str, float]:
        pred = self.values(model, xs)
        truth = y.double() * self.meta["target_std"] + self.meta["target_mean"]
        mse = ((pred - truth) ** 2).mean().item()
        variance = ((truth - truth.mean()) ** 2).mean().item()
        return {"mse": mse, "mae": (pred - truth).abs().mean().item(),
                "r2": 1 - mse / variance if variance > 0 else 0.0, "loss": mse / self.meta["target_std"] ** 2}

    def report(self, metrics: dict) -> list[str]:
        return []

    def figures(self, run_dir: Path, model: nn.Module) -> list[Path]:
        return []

    def predict(self, model: nn.Module, text: str) -> list[str]:
        """The target of a text (text runs), or of each case of a series file or a ``1,2,3[:4,5,6]`` series."""
        if self.meta["kind"] == "text":
            raw = [text]
        elif Path(text).suffix in SUFFIXES and Path(text).is_file():        # the regression archive's own files
            raw = self._read(Path(text), "series", self.cfg)[0]
        else:
            raw = self._raw_series(text)
        xs, _ = self.encode_all(raw, None, "the input")
        return [f"value={v:.6g}" for v in self.values(model, xs).tolist()]


def _spread(y: Tensor) -> float:
    """The sd of the training targets, or 1 where they are (nearly) constant."""
    sd = y.std(unbiased=False).item()
    return sd if sd > 1e-12 else 1.0
