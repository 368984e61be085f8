"""forecast: time-series regression (the Theano notebook's sine/cosine regression, the RNN 1 notes' time series).

A CSV with a header; ``--target`` names the column(s) to forecast (default: the last column) and
``--inputs`` extra columns to read (default: none). Windows of ``--window`` steps predict the next
value: ``--mode one`` is many-to-one (one prediction after the window), ``--mode many`` is
many-to-many (a next-step prediction at every step, trained on all of them). The last
``--test-fraction`` of the series is the test tail, scored once at the end with the weights that
validation chose; validation (early stopping, the best checkpoint) is the ``--valid-fraction`` just
before it. MSE and MAE are reported in the data's units, next to the naive last-value forecast and,
with ``--season m``, the seasonal-naive forecast ``y_(t-m)`` on the same windows. ``--scale window``
scales each window by its own mean and spread (the forecast is scaled back), so a level the training
years never reached is no extrapolation; ``--ensemble K`` trains K models from different initial
weights side by side (each on its own loss) and forecasts their mean.
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
from ..models import Ensemble, RecurrentConfig, SequenceModel, is_ensemble
from ..options import option
from ..state import State
from .base import Batch, Task, data_path, epoch_indices



@dataclass
class ForecastConfig:
    target: str = option("column(s) to forecast, comma-separated (default: the last column)", "")
    inputs: str = option("extra input columns, comma-separated (default: none)", "")
    window: int = option("steps the model reads before forecasting", 24, at_least=1, at_most=10_000_000)
    mode: str = option("one (many-to-one) or many (many-to-many)", "one", choices=("one", "many"))
    test_fraction: float = option("share of the series, from its end, held out as the test tail (scored once, at "
                                  "the end; 0: none)", 0.2, at_least=0.0, below=1.0)
    valid_fraction: float = option("share of the series just before the test tail that validates (early stopping, "
                                   "the best checkpoint)", 0.1, above=0.0, below=1.0)
    scale: str = option("dataset (the training rows' mean and sd) or window (then each window by its own mean and "
                        "sd; the default, chosen on sunspots: RESULTS.md)", "window", choices=("dataset", "window"))
    season: int = option("season length m for the seasonal-naive baseline y_(t-m) beside the naive one (0: none)",
                         0, at_least=0, at_most=10_000_000)
    ensemble: int = option("train this many models from different initial weights; forecast their mean", 1,
                           at_least=1, at_most=1000)


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
    in_memory = "columns"
    name = "forecast"
    predicts = True
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
        if cfg.season > cfg.window:
            raise UserError(f"expected --season at most --window = {cfg.window} (the seasonal-naive forecast reads "
                            f"y_(t-m) from the window); received {cfg.season}")
        values, targets = read_series(path, targets, inputs)                     # (N, K + E)
        test_at, cut = cls._cuts(len(values), cfg)
        if cut <= cfg.window + 1 or test_at - cut < 1:
            raise UserError(f"expected more than window + 1 = {cfg.window + 1} training steps, a validation part and "
                            f"a test tail; {path} has {len(values)} rows (lower --window or change --valid-fraction / "
                            f"--test-fraction)")
        train = values[:cut]
        meta = {"data": str(path), "targets": targets, "inputs": inputs, "mean": train.mean(0).tolist(),
                "std": [s if s > 1e-8 else 1.0 for s in train.std(0).tolist()]}
        task = cls(cfg, model_cfg, meta, seed=seed)
        task.set_series(values, cut, test_at)
        return task

    @staticmethod
    def _cuts(n: int, cfg: ForecastConfig) -> tuple[int, int]:
        """(first test step, first validation step) of a series of n rows."""
        test_at = n - int(n * cfg.test_fraction)
        return test_at, test_at - max(1, int(n * cfg.valid_fraction))

    def set_series(self, values: Tensor, first_valid: int, first_test: int, *, need_train: bool = True) -> None:
        """Windows whose forecast step is < first_valid train, those in [first_valid, first_test) validate and
        those at or after first_test are the test tail."""
        self.values = (values - torch.tensor(self.meta["mean"])) / torch.tensor(self.meta["std"])
        W = self.cfg.window
        starts = torch.arange(0, len(values) - W)                                 # target step = start + W
        self.train_starts = starts[starts + W < first_valid]
        self.valid_starts = starts[(starts + W >= first_valid) & (starts + W < first_test)]
        self.test_starts = starts[starts + W >= first_test]
        if (need_train and len(self.train_starts) == 0) or len(self.valid_starts) == 0:
            raise UserError(f"expected windows of {W} steps on both sides of the split; received "
                            f"{len(self.train_starts)} training and {len(self.valid_starts)} validation windows")

    def load_eval_data(self, data) -> None:
        path = data_path(data or self.meta["data"], self.name)
        values, _ = read_series(path, self.meta["targets"], self.meta["inputs"])
        if data:                                  # a new file is evaluated on all its windows
            self.set_series(values, self.cfg.window, len(values) + 1, need_train=False)
        else:                                     # the run's own file on its validation part
            self.set_series(values, *reversed(self._cuts(len(values), self.cfg)), need_train=False)

    def build_model(self) -> nn.Module:
        K = len(self.meta["targets"])

        def one() -> SequenceModel:
            return SequenceModel(self.model_cfg, input_size=K + len(self.meta["inputs"]), output_size=K,
                                 readout="last" if self.cfg.mode == "one" else "all")
        return one() if self.cfg.ensemble == 1 else Ensemble([one() for _ in range(self.cfg.ensemble)])

    def _scaled(self, seq: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``--scale window``: windows (B, T, K+E) by their first W steps' mean and sd; (scaled, mean, sd)."""
        if self.cfg.scale == "dataset":
            return seq, seq.new_zeros(seq.shape[0], 1, seq.shape[2]), seq.new_ones(seq.shape[0], 1, seq.shape[2])
        head = seq[:, : self.cfg.window]
        mean = head.mean(1, keepdim=True)
        sd = head.std(1, keepdim=True, unbiased=False)
        sd = torch.where(sd > 1e-3, sd, torch.ones_like(sd))
        return (seq - mean) / sd, mean, sd

    def _windows(self, starts: Tensor) -> Batch:
        W, K = self.cfg.window, len(self.meta["targets"])
        idx = starts.unsqueeze(1) + torch.arange(W + 1).unsqueeze(0)               # (B, W+1)
        seq, _, _ = self._scaled(self.values[idx])                                 # (B, W+1, K+E)
        return Batch(seq[:, :W], None, seq[:, 1:, :K])                             # targets: next step, (B, W, K)

    def train_batch(self, step: int, batch_size: int) -> Batch:
        idx = epoch_indices(len(self.train_starts), batch_size, self.seed, step)
        return self._windows(self.train_starts[idx])

    def _next(self, out: Tensor) -> Tensor:
        return out if self.cfg.mode == "one" else out[:, -1]                      # next-step (B, K)

    def loss(self, model: nn.Module, batch: Batch, carry: State) -> tuple[Tensor, State, int]:
        target = batch.y[:, -1] if self.cfg.mode == "one" else batch.y
        # each member learns from its own error (an ensemble of independently trained models), not the mean's
        if is_ensemble(model):                                           # the model itself or wrapped by DDP
            return sum(F.mse_loss(out, target) for out in model(batch.x, each=True)[0]), None, len(batch.x)
        return F.mse_loss(model(batch.x)[0], target), None, len(batch.x)

    @torch.no_grad()
    def forecast(self, model: nn.Module, starts: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(forecasts, truth, the window in data units) of the windows ``starts``, in the data's units."""
        model.eval()
        W, K = self.cfg.window, len(self.meta["targets"])
        idx = starts.unsqueeze(1) + torch.arange(W + 1).unsqueeze(0)
        raw = self.values[idx]                                                      # (B, W+1, K+E)
        scaled, mean, sd = self._scaled(raw)
        out, _ = model(scaled[:, :W])
        pred = self._next(out.cpu()) * sd[:, 0, :K] + mean[:, 0, :K]
        std, mu = torch.tensor(self.meta["std"][:K]), torch.tensor(self.meta["mean"][:K])
        return pred * std + mu, raw[:, W, :K] * std + mu, raw[:, :W, :K] * std + mu

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return self._scores(model, self.valid_starts)

    def _scores(self, model: nn.Module, starts: Tensor) -> dict[str, float]:
        pred, truth, window = self.forecast(model, starts)
        K = len(self.meta["targets"])
        std = torch.tensor(self.meta["std"][:K])
        naive = window[:, -1]                                                      # the last value seen
        scores = {"mae": (pred - truth).abs().mean().item(), "mse": ((pred - truth) ** 2).mean().item(),
                  "naive_mae": (naive - truth).abs().mean().item(), "naive_mse": ((naive - truth) ** 2).mean().item()}
        if self.cfg.season:
            seasonal = window[:, -self.cfg.season]                                 # y_(t-m)
            scores["seasonal_naive_mae"] = (seasonal - truth).abs().mean().item()
            scores["seasonal_naive_mse"] = ((seasonal - truth) ** 2).mean().item()
        scores["loss"] = F.mse_loss(pred / std, truth / std).item()
        return scores

    def test_metrics(self, model: nn.Module) -> tuple[str, dict[str, float]] | None:
        """The test tail scored with ``model`` (the weights validation selected), or None without one."""
        if not self.cfg.test_fraction:
            return None
        if not hasattr(self, "test_starts"):
            self.load_eval_data(None)
        return f"the last {self.cfg.test_fraction:g} of {self.meta['data']}", self._scores(model, self.test_starts)

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
        x, mean, sd = self._scaled(x.unsqueeze(0))
        out, _ = model.eval()(x)
        K = len(self.meta["targets"])
        out = self._next(out.cpu()) * sd[:, 0, :K] + mean[:, 0, :K]
        pred = out[0] * torch.tensor(self.meta["std"][:K]) + torch.tensor(self.meta["mean"][:K])
        return ["\t".join(f"{n}={v:.6g}" for n, v in zip(self.meta["targets"], pred.tolist()))]
