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
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.tsfile import parse_ts
from ..errors import UserError
from ..models import is_ensemble
from ..state import State
from .base import Batch, split_off
from .classify import HELD_OUT, MIN_HELD_OUT, Classify
from .series_inputs import SeriesInputs


def read_targets(inputs, path: Path, cfg) -> tuple[list, list[float]]:
    """(series or texts, their targets) of a file; a target that is not a finite number is one error naming it."""
    if inputs is SeriesInputs and path.suffix.lower() == ".ts":
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        # the regression archive's files differ from classification's in this header line alone
        raw_x, raw_y, _ = parse_ts(re.sub(r"(?im)^(\s*)@targetlabel(\s+)true\b", r"\1@classLabel\2true", text),
                                   str(path))
        raw_x = [s[: cfg.max_len] for s in raw_x] if cfg.max_len else raw_x
    else:
        raw_x, raw_y = inputs.read(path, cfg)
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

    # ------------------------------------------------------------------ data: Classify.prepare with these
    @classmethod
    def read_examples(cls, inputs, path: Path, cfg) -> tuple[list, list[float]]:
        return read_targets(inputs, Path(path), cfg)

    @staticmethod
    def target_meta(raw_y: list[float], path: Path) -> dict:
        """The training targets' mean and sd, which standardise them; no classes ("labels" stays empty for the
        classifier's encoding of the inputs, which looks labels up)."""
        y = torch.tensor(raw_y, dtype=torch.float64)
        return {"labels": [], "target_mean": y.mean().item(), "target_std": _spread(y)}

    @staticmethod
    def held_out(y: Tensor, fraction: float) -> float:
        """``fraction`` when given, else ``HELD_OUT`` where that is at least ``MIN_HELD_OUT`` examples, else none."""
        return fraction or (HELD_OUT if HELD_OUT * len(y) >= MIN_HELD_OUT else 0.0)

    @staticmethod
    def split(y: Tensor, share: float, seed: int) -> tuple[Tensor, Tensor]:
        """(train, valid) rows: a random share held out (targets have no classes to stratify by)."""
        return split_off(len(y), share, seed)

    def encode_all(self, raw_x: list, raw_y: list[float] | None, where: str) -> tuple[list[Tensor], Tensor]:
        """Model inputs, as the classifier encodes them, and the targets standardised by the training set's mean
        and sd (zeros without targets)."""
        x, _ = super().encode_all(raw_x, [], where)
        y = torch.zeros(len(x)) if raw_y is None else \
            ((torch.tensor(raw_y, dtype=torch.float64) - self.meta["target_mean"]) / self.meta["target_std"]).float()
        return x, y

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

    @staticmethod
    def window_output(z: Tensor) -> Tensor:
        """What the windows of one input average: their predictions."""
        return z

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
        if self.inputs is SeriesInputs and Path(text).suffix == ".ts" and Path(text).is_file():
            raw = self._read(Path(text))[0]                                  # the regression archive's own files
        else:
            raw = self.inputs.parse(text)
        xs, _ = self.encode_all(raw, None, "the input")
        return [f"value={v:.6g}" for v in self.values(model, xs).tolist()]


def _spread(y: Tensor) -> float:
    """The sd of the training targets, or 1 where they are (nearly) constant."""
    sd = y.std(unbiased=False).item()
    return sd if sd > 1e-12 else 1.0
