"""forecast: time-series regression (the Theano notebook's sine/cosine regression, the RNN 1 notes' time series).

A CSV with a header; ``--target`` names the column(s) to forecast (default: the last column) and
``--inputs`` extra columns to read (default: none). Windows of ``--window`` steps predict the next
value: ``--mode one`` is many-to-one (one prediction after the window), ``--mode many`` is
many-to-many (a next-step prediction at every step, trained on all of them). The last
``--valid-fraction`` of the series is the held-out tail. MSE and MAE are reported in the data's
units, next to the naive last-value forecast on the same windows.
"""
from __future__ import annotations

import csv
import math
import io
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.text import check_file
from ..errors import UserError
from ..models import RecurrentConfig, SequenceModel
from ..options import option
from ..state import State
from .base import Batch, Task, data_path, epoch_indices



@dataclass
class ForecastConfig:
    target: str = option("column(s) to forecast, comma-separated (default: the last column)", "")
    inputs: str = option("extra input columns, comma-separated (default: none)", "")
    window: int = option("steps the model reads before forecasting", 24, at_least=1, at_most=10_000_000)
    mode: str = option("one (many-to-one) or many (many-to-many)", "one", choices=("one", "many"))
    valid_fraction: float = option("share of the series, from its end, held out", 0.2, above=0.0, below=1.0)


def read_columns(path: Path, names: list[str]) -> tuple[Tensor, list[str]]:
    """The named numeric columns of a CSV as (N, len(names)); the last column when ``names`` is empty."""
    path = check_file(path, "a CSV time series with a header")
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig", errors="replace"))))
    if len(rows) < 2:
        raise UserError(f"expected a header and at least one row in {path}; received {len(rows)} line(s)")
    header = [h.strip() for h in rows[0]]
    names = names or [header[-1]]
    missing = [n for n in names if n not in header]
    if missing:
        raise UserError(f"expected columns {names} in {path}; it has {header}, missing {missing}")
    cols = [header.index(n) for n in names]
    values = []
    for k, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            row_values = [float(row[c]) for c in cols]
            if not all(math.isfinite(v) for v in row_values):
                raise ValueError
            values.append(row_values)
        except (ValueError, IndexError):
            raise UserError(f"expected numbers in columns {names} on line {k} of {path}; received "
                            f"{[row[c] if c < len(row) else None for c in cols]}") from None
    return torch.tensor(values, dtype=torch.float32), names


def read_series(path: Path, targets: list[str], inputs: list[str]) -> tuple[Tensor, list[str]]:
    """Target columns then extra input columns, (N, K + E), and the target names (default: the last column)."""
    series, targets = read_columns(path, targets)
    extra = read_columns(path, inputs)[0] if inputs else series[:, :0]
    return torch.cat([series, extra], dim=1), targets


class Forecast(Task):
    name = "forecast"
    Config = ForecastConfig
    primary = "mae"
    higher_is_better = False
    model_defaults = {"hidden_size": 64}
    train_defaults = {"steps": 1500, "batch_size": 32, "lr": 3e-3, "eval_every": 100}

    @classmethod
    def prepare(cls, cfg: ForecastConfig, model_cfg: RecurrentConfig, data, *, seed: int = 0) -> "Forecast":
        if cfg.mode not in ("one", "many"):
            raise UserError(f"--mode must be one or many; received {cfg.mode!r}")
        if cfg.window < 1:
            raise UserError(f"--window must be >= 1; received {cfg.window}")
        if model_cfg.bidirectional and cfg.mode == "many":
            raise UserError("a many-to-many forecast reads left to right; received --bidirectional")
        targets = [c.strip() for c in cfg.target.split(",") if c.strip()]
        inputs = [c.strip() for c in cfg.inputs.split(",") if c.strip()]
        path = data_path(data, cls.name)
        values, targets = read_series(path, targets, inputs)                     # (N, K + E)
        n_valid = int(len(values) * cfg.valid_fraction)
        cut = len(values) - n_valid
        if cut <= cfg.window + 1 or n_valid < 1:
            raise UserError(f"expected more than window + 1 = {cfg.window + 1} training steps and a held-out tail; "
                            f"{path} has {len(values)} rows (lower --window or change --valid-fraction)")
        train = values[:cut]
        meta = {"data": str(path), "targets": targets, "inputs": inputs, "mean": train.mean(0).tolist(),
                "std": [s if s > 1e-8 else 1.0 for s in train.std(0).tolist()]}
        task = cls(cfg, model_cfg, meta, seed=seed)
        task.set_series(values, cut)
        return task

    def set_series(self, values: Tensor, first_target: int, *, need_train: bool = True) -> None:
        """Windows whose forecast step is < first_target train; those at or after it validate."""
        self.values = (values - torch.tensor(self.meta["mean"])) / torch.tensor(self.meta["std"])
        W = self.cfg.window
        starts = torch.arange(0, len(values) - W)                                 # target step = start + W
        self.train_starts = starts[starts + W < first_target]
        self.valid_starts = starts[starts + W >= first_target]
        if (need_train and len(self.train_starts) == 0) or len(self.valid_starts) == 0:
            raise UserError(f"expected windows of {W} steps on both sides of the split; received "
                            f"{len(self.train_starts)} training and {len(self.valid_starts)} validation windows")

    def load_eval_data(self, data) -> None:
        path = data_path(data or self.meta["data"], self.name)
        values, _ = read_series(path, self.meta["targets"], self.meta["inputs"])
        # a new file is evaluated on all its windows; the run's own file on its held-out tail
        first = self.cfg.window if data else len(values) - int(len(values) * self.cfg.valid_fraction)
        self.set_series(values, first, need_train=False)

    def build_model(self) -> SequenceModel:
        K = len(self.meta["targets"])
        return SequenceModel(self.model_cfg, input_size=K + len(self.meta["inputs"]), output_size=K,
                             readout="last" if self.cfg.mode == "one" else "all")

    def _windows(self, starts: Tensor) -> Batch:
        W, K = self.cfg.window, len(self.meta["targets"])
        idx = starts.unsqueeze(1) + torch.arange(W + 1).unsqueeze(0)               # (B, W+1)
        seq = self.values[idx]                                                     # (B, W+1, K+E)
        return Batch(seq[:, :W], None, seq[:, 1:, :K])                             # targets: next step, (B, W, K)

    def train_batch(self, step: int, batch_size: int) -> Batch:
        idx = epoch_indices(len(self.train_starts), batch_size, self.seed, step)
        return self._windows(self.train_starts[idx])

    def _predict_next(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
        out, _ = model(batch.x)
        out = out.to(batch.x.device)                                              # training: already there
        return out, (out if self.cfg.mode == "one" else out[:, -1])               # all outputs, next-step (B, K)

    def loss(self, model: nn.Module, batch: Batch, carry: State) -> tuple[Tensor, State, int]:
        out, _ = self._predict_next(model, batch)
        target = batch.y[:, -1] if self.cfg.mode == "one" else batch.y
        return F.mse_loss(out, target), None, len(batch.x)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        model.eval()
        batch = self._windows(self.valid_starts)
        _, pred = self._predict_next(model, batch)
        K = len(self.meta["targets"])
        std, mean = torch.tensor(self.meta["std"][:K]), torch.tensor(self.meta["mean"][:K])
        truth = batch.y[:, -1] * std + mean
        pred = pred * std + mean
        naive = batch.x[:, -1, :K] * std + mean                                    # the last value seen
        return {"mae": (pred - truth).abs().mean().item(), "mse": ((pred - truth) ** 2).mean().item(),
                "naive_mae": (naive - truth).abs().mean().item(), "naive_mse": ((naive - truth) ** 2).mean().item(),
                "loss": F.mse_loss((pred - mean) / std, (truth - mean) / std).item()}

    def predict(self, model: nn.Module, text: str) -> list[str]:
        """The next value after a window: numbers ``v1,v2,...`` (one target, no extra inputs) or a CSV file."""
        if Path(text).suffix == ".csv":
            values, _ = read_series(Path(text), self.meta["targets"], self.meta["inputs"])
        else:
            if len(self.meta["targets"]) != 1 or self.meta["inputs"]:
                raise UserError("expected a CSV file for a run with several columns; received numbers")
            try:
                values = torch.tensor([[float(v)] for v in text.split(",")])
            except ValueError:
                raise UserError(f"expected comma-separated numbers or a .csv file; received {text[:40]!r}") from None
        if len(values) < self.cfg.window:
            raise UserError(f"expected at least --window = {self.cfg.window} values; received {len(values)}")
        x = ((values[-self.cfg.window:] - torch.tensor(self.meta["mean"])) / torch.tensor(self.meta["std"]))
        out, _ = model.eval()(x.unsqueeze(0))
        out = out.cpu()
        out = out if self.cfg.mode == "one" else out[:, -1]
        K = len(self.meta["targets"])
        pred = out[0] * torch.tensor(self.meta["std"][:K]) + torch.tensor(self.meta["mean"][:K])
        return ["\t".join(f"{n}={v:.6g}" for n, v in zip(self.meta["targets"], pred.tolist()))]
