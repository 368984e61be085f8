"""Forecasting the yearly sunspot numbers (statsmodels' copy, 1700-2008): one-step-ahead MAE on the
last 20% of years, rnnkit's forecast task against the naive last-value forecast and against a
statsmodels ARIMA(9,0,0) fitted on the training years and applied, with those parameters, to the tail.

    python benchmarks/results/sunspots.py
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import mean_sd, parser, write  # noqa: E402

from rnnkit.data.fetch import fetch  # noqa: E402
from rnnkit.models import RecurrentConfig  # noqa: E402
from rnnkit.tasks.forecast import Forecast, ForecastConfig, read_columns  # noqa: E402
from rnnkit.train import TrainConfig, Trainer  # noqa: E402


def arima_mae(values: torch.Tensor, cut: int) -> float:
    import numpy as np
    from statsmodels.tsa.arima.model import ARIMA

    y = values.double().numpy()
    fitted = ARIMA(y[:cut], order=(9, 0, 0)).fit()
    full = fitted.apply(y)                                   # same parameters, the whole series
    pred = full.predict(start=cut, end=len(y) - 1)           # one-step-ahead forecasts of the tail
    return float(np.abs(pred - y[cut:]).mean())


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=1500)
    args = p.parse_args()
    if args.smoke:
        args.seeds, args.steps = 1, 5
    started = time.perf_counter()
    path = fetch("sunspots")
    cfg = ForecastConfig(target="SUNACTIVITY", window=20, valid_fraction=0.2)
    maes, naive = [], None
    for seed in range(args.seeds):
        task = Forecast.prepare(cfg, RecurrentConfig(cell="lstm", hidden_size=64), str(path), seed=seed)
        torch.manual_seed(seed)
        model = task.build_model()
        with tempfile.TemporaryDirectory() as run:
            m = Trainer(task, model, TrainConfig(steps=args.steps, batch_size=32, lr=3e-3, eval_every=args.steps,
                                                 seed=seed), Path(run)).fit()
        maes.append(m["mae"])
        naive = m["naive_mae"]
    series, _ = read_columns(path, ["SUNACTIVITY"])
    cut = len(series) - int(len(series) * cfg.valid_fraction)
    rows = [{"model": "naive last value", "mae": naive},
            {"model": "statsmodels ARIMA(9,0,0)", "mae": arima_mae(series[:, 0], cut)},
            {"model": "rnnkit LSTM(64), window 20", "mae": mean_sd(maes), "maes": maes}]
    for r in rows:
        print(r, flush=True)
    write("sunspots", args, {"years": len(series), "held_out_years": len(series) - cut, "rows": rows}, started)


if __name__ == "__main__":
    main()
