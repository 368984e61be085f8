"""The forecast task's model selection and baselines: validation before a test tail that only the end
scores, the seasonal-naive forecast, window scaling, an ensemble of independently trained members."""
import json

import pytest
import torch

from datasets import series_csv
from rnnkit.cli import main
from rnnkit.models import Ensemble, RecurrentConfig
from rnnkit.tasks.forecast import Forecast, ForecastConfig

pytestmark = pytest.mark.slow


def _task(tmp_path, **kw):
    return Forecast.prepare(ForecastConfig(window=8, **kw), RecurrentConfig(hidden_size=6), str(series_csv(tmp_path / "s.csv")),
                            seed=0)


def test_training_validation_and_test_windows_are_in_order_and_disjoint(tmp_path):
    task = _task(tmp_path, test_fraction=0.2, valid_fraction=0.1)
    W, n = 8, 400
    targets = {k: set((getattr(task, f"{k}_starts") + W).tolist()) for k in ("train", "valid", "test")}
    assert max(targets["train"]) < min(targets["valid"]) and max(targets["valid"]) < min(targets["test"])
    assert min(targets["test"]) == n - int(n * 0.2) and min(targets["valid"]) == n - 80 - 40
    assert len(targets["test"]) == 80 and len(targets["valid"]) == 40


def test_the_test_tail_is_scored_once_at_the_end(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "forecast", "--data", str(series_csv(tmp_path / "s.csv")), "--run", str(run), "--window", "8",
                 "--max-steps", "4", "--eval-every", "2", "--hidden-size", "4", "--season", "8"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("test (forecast, the last 0.2 of ")
    test = json.loads((run / "test_metrics.json").read_text())
    assert {"mae", "naive_mae", "seasonal_naive_mae"} <= set(test)


def test_seasonal_naive_is_the_value_one_season_back(tmp_path):
    task = _task(tmp_path, season=5)

    class Last(torch.nn.Module):
        def forward(self, x):
            return x[:, -1, :1], None
    scores = task._scores(Last(), task.valid_starts)
    _, truth, window = task.forecast(Last(), task.valid_starts)
    values = torch.tensor([float(l.split(",")[1]) for l in (tmp_path / "s.csv").read_text().splitlines()[1:]])
    starts = task.valid_starts
    torch.testing.assert_close(truth[:, 0], values[starts + 8])
    expected = (values[starts + 8 - 5] - values[starts + 8]).abs().mean().item()
    assert abs(scores["seasonal_naive_mae"] - expected) < 1e-3
    assert abs(scores["mae"] - scores["naive_mae"]) < 1e-4  # the "last value" model is the naive forecast


def test_window_scaling_makes_the_forecast_follow_an_affine_change_of_the_data(tmp_path):
    task = _task(tmp_path, scale="window")
    torch.manual_seed(0)
    model = task.build_model()
    pred, _, _ = task.forecast(model, task.valid_starts)
    task.values = task.values * 3.0 + 7.0                     # the same series, another level and spread
    moved, _, _ = task.forecast(model, task.valid_starts)
    std, mu = task.meta["std"][0], task.meta["mean"][0]
    torch.testing.assert_close((moved - mu) / std, ((pred - mu) / std) * 3.0 + 7.0, atol=1e-4, rtol=1e-4)


def test_an_ensemble_forecasts_the_mean_and_each_member_learns_from_its_own_error(tmp_path):
    task = _task(tmp_path, ensemble=3)
    torch.manual_seed(0)
    model = task.build_model()
    assert isinstance(model, Ensemble) and len(model.members) == 3
    batch = task.train_batch(0, 16)
    out, _ = model(batch.x)
    torch.testing.assert_close(out, torch.stack([m(batch.x)[0] for m in model.members]).mean(0))
    loss, _, _ = task.loss(model, batch, None)
    grads = torch.autograd.grad(loss, list(model.members[0].parameters()))
    alone = torch.nn.functional.mse_loss(model.members[0](batch.x)[0], batch.y[:, -1])
    expected = torch.autograd.grad(alone, list(model.members[0].parameters()))
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e)
    w0 = [p.detach().clone() for p in model.members[0].parameters()]
    w1 = [p.detach().clone() for p in model.members[1].parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(w0, w1))   # different initial weights
