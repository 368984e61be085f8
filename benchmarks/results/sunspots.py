"""Forecasting the yearly sunspot numbers (statsmodels' copy, 1700-2008): one-step-ahead MAE on the test
tail (the last 20% of years), rnnkit's forecast task against the naive last-value forecast, the
seasonal-naive forecast (the value 11 years back, the solar cycle) and a statsmodels ARIMA(9,0,0) fitted
on the years before the tail and applied, with those parameters, to it.

Every rnnkit candidate is the command a user types, `rnnkit train forecast --data SUNSPOTS --target
SUNACTIVITY --window 20 --season 11 --seed S [flags]`: validation (early stopping, the best checkpoint)
is the 10% of years just before the tail, and the tail is scored once, at the end (test_metrics.json).
Mean and sd over the seeds.

    python benchmarks/results/sunspots.py --seeds 3
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import mean_sd, parser, write  # noqa: E402

from rnnkit.data.fetch import fetch  # noqa: E402
from rnnkit.tasks.forecast import read_columns  # noqa: E402

CANDIDATES = {"--scale dataset (LSTM 64)": ["--scale", "dataset"], "--scale window (the default)": ["--scale", "window"],
              "--scale dataset --ensemble 5": ["--scale", "dataset", "--ensemble", "5"],
              "--scale window --ensemble 5": ["--scale", "window", "--ensemble", "5"]}
TEST_FRACTION = 0.2


def arima_mae(values, cut: int) -> float:
    import numpy as np
    from statsmodels.tsa.arima.model import ARIMA

    y = values.double().numpy()
    fitted = ARIMA(y[:cut], order=(9, 0, 0)).fit()
    full = fitted.apply(y)                                   # same parameters, the whole series
    pred = full.predict(start=cut, end=len(y) - 1)           # one-step-ahead forecasts of the tail
    return float(np.abs(pred - y[cut:]).mean())


def train(path: Path, flags: list[str], seed: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "rnnkit", "train", "forecast", "--data", str(path), "--run", f"{tmp}/run",
               "--target", "SUNACTIVITY", "--window", "20", "--season", "11", "--seed", str(seed), *flags, *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip().splitlines()[-1:]}")
        return json.loads(Path(f"{tmp}/run/test_metrics.json").read_text())


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    extra: list[str] = []
    candidates = CANDIDATES
    if args.smoke:
        args.seeds, extra, candidates = 1, ["--max-steps", "3", "--eval-every", "3"], dict(list(CANDIDATES.items())[:1])
    started = time.perf_counter()
    path = fetch("sunspots")
    series, _ = read_columns(path, ["SUNACTIVITY"])
    cut = len(series) - int(len(series) * TEST_FRACTION)
    rows, baselines = [], {}
    for name, flags in candidates.items():
        tests = [train(path, flags, seed, extra) for seed in range(args.seeds)]
        baselines = {"naive last value": tests[0]["naive_mae"], "seasonal naive (11 years)": tests[0]["seasonal_naive_mae"]}
        rows.append({"model": f"rnnkit {name}", "command_flags": " ".join(flags), "mae": mean_sd([t["mae"] for t in tests]),
                     "maes": [t["mae"] for t in tests]})
        print(rows[-1], flush=True)
    rows = [{"model": k, "mae": v} for k, v in baselines.items()] + \
        [{"model": "statsmodels ARIMA(9,0,0)", "mae": arima_mae(series[:, 0], cut)}] + rows
    write("sunspots", args, {"years": len(series), "test_years": len(series) - cut, "rows": rows}, started)


if __name__ == "__main__":
    main()
