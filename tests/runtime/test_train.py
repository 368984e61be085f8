"""rnnkit.runtime.train: resume equals uninterrupted (bit for bit, also after SIGKILL at random moments), the
same seed gives the same weights, schedules, divergence, patience and logging; and each task learns on
small data within the test's time."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from datasets import sentiment_csv, series_csv, text_file, ts_folder
from rnnkit.cli import main
from rnnkit.runtime.train import TrainConfig, Trainer
from fitting import fit_run, make_task

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name,kw,optimizer", [
    ("charlm", dict(model={"hidden_size": 16, "num_layers": 2, "dropout": 0.2}, seq_len=16), "adamw"),
    ("classify", dict(model={"hidden_size": 16, "bidirectional": True, "dropout": 0.1}), "adamw"),
    ("charlm", dict(model={"hidden_size": 16}, seq_len=16), "rmsprop"),
])
def test_killed_run_resumes_to_the_same_weights_bit_for_bit(tmp_path, name, kw, optimizer):
    data = text_file(tmp_path / "t.txt") if name == "charlm" else sentiment_csv(tmp_path / "s.csv")
    task = make_task(tmp_path, name, str(data), **kw)
    cfg = TrainConfig(steps=14, batch_size=8, eval_every=4, schedule="cosine", optimizer=optimizer, weight_decay=0.01,
                      momentum=0.5 if optimizer == "rmsprop" else 0.0, rmsprop_alpha=0.9)
    whole = fit_run(task, tmp_path / "whole", cfg)
    fit_run(task, tmp_path / "killed", cfg, crash_after=10)          # last checkpoint at step 8
    assert json.loads((tmp_path / "killed" / "checkpoint" / "trainer.json").read_text())["step"] == 8
    resumed = fit_run(task, tmp_path / "killed", cfg, resume=True)
    for (n1, p1), (n2, p2) in zip(whole.state_dict().items(), resumed.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2), n1
    a = (tmp_path / "whole" / "metrics.csv").read_text()
    b = (tmp_path / "killed" / "metrics.csv").read_text()
    strip = lambda text: [",".join(c for i, c in enumerate(r.split(",")) if i != 1) for r in text.splitlines()]
    assert strip(a) == strip(b)                                   # same rows, elapsed time aside


def test_time_budget_stops_and_still_validates(tmp_path):
    task = make_task(tmp_path, "reber", model={"hidden_size": 8}, valid_strings=20, samples=5)
    trainer = Trainer(task, task.build_model(), TrainConfig(steps=10**6, eval_every=10**5, max_time=1.0), tmp_path)
    metrics = trainer.fit()
    assert 0 < trainer.step < 10**6 and "solved" in metrics


def test_reber_lstm_learns_next_symbols(tmp_path):
    task = make_task(tmp_path, "reber", embedded=False, valid_strings=200, samples=50)
    cfg = TrainConfig(steps=300, batch_size=32, lr=1e-2, eval_every=300, clip_norm=5.0)
    model = task.build_model()
    metrics = Trainer(task, model, cfg, tmp_path).fit()
    assert metrics["symbol_acc"] > 0.95 and metrics["in_grammar"] > 0.5, metrics


def test_sort_with_attention_learns_short_sequences(tmp_path):
    task = make_task(tmp_path, "seq2seq", model={"hidden_size": 64}, sort_min_len=2, sort_max_len=4, sort_symbols=5,
                 valid_size=200)
    metrics = Trainer(task, task.build_model(), TrainConfig(steps=250, batch_size=64, lr=5e-3, eval_every=250),
                      tmp_path).fit()
    assert metrics["exact_match"] > 0.8, metrics


def test_classification_beats_chance(tmp_path):
    folder = ts_folder(tmp_path / "Toy", train=80, test=60)
    task = make_task(tmp_path, "classify", str(folder), model={"hidden_size": 16})
    metrics = Trainer(task, task.build_model(), TrainConfig(steps=60, batch_size=16, lr=1e-2, eval_every=60),
                      tmp_path).fit()
    assert metrics["accuracy"] > 0.85, metrics


def test_forecast_beats_the_naive_last_value(tmp_path):
    task = make_task(tmp_path, "forecast", str(series_csv(tmp_path / "f.csv")), model={"hidden_size": 32}, window=12)
    metrics = Trainer(task, task.build_model(), TrainConfig(steps=200, batch_size=32, lr=1e-2, eval_every=200),
                      tmp_path).fit()
    assert metrics["mae"] < 0.7 * metrics["naive_mae"], metrics


def test_a_tie_on_the_primary_metric_keeps_the_later_checkpoint(tmp_path):
    """Small validation sets score many checkpoints alike on accuracy: the tie goes to the later, better trained."""
    from safetensors.torch import load_file
    task = make_task(tmp_path, "classify", str(sentiment_csv(tmp_path / "s.csv")), model={"hidden_size": 8},
                 valid_fraction=0.1)                                 # a held-out share to choose on
    scores = iter([(0.5, 0.9), (1.0, 0.6), (1.0, 0.3), (1.0, 0.4), (0.9, 0.1)])   # (accuracy, loss) per validation
    seen = []

    def evaluate(model):
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        accuracy, loss = next(scores)
        return {"accuracy": accuracy, "loss": loss}
    task.evaluate = evaluate
    fit_run(task, tmp_path / "run", TrainConfig(steps=10, batch_size=8, eval_every=2))
    best = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert len(seen) == 5
    assert not torch.equal(seen[3]["head.weight"], seen[2]["head.weight"])
    assert all(torch.equal(best[k], v) for k, v in seen[3].items())      # the last of the three at accuracy 1.0
    scores = iter([(0.5, 0.9), (1.0, 0.6), (1.0, 0.3), (1.0, 0.4), (1.0, 0.1)])   # ties do not reset patience
    seen.clear()
    fit_run(task, tmp_path / "patient", TrainConfig(steps=10, batch_size=8, eval_every=2, patience=2))
    assert len(seen) == 4                                                # stopped after two validations without gain


def test_rmsprop_flags_reach_the_optimizer():
    from rnnkit.runtime.train import make_optimizer
    opt = make_optimizer(TrainConfig(optimizer="rmsprop", lr=1e-3, rmsprop_alpha=0.9, momentum=0.5),
                         [torch.nn.Parameter(torch.zeros(2))])
    assert isinstance(opt, torch.optim.RMSprop)
    assert {k: opt.defaults[k] for k in ("lr", "alpha", "momentum")} == {"lr": 1e-3, "alpha": 0.9, "momentum": 0.5}


TINY = ["--hidden-size", "12", "--embed-size", "8", "--seq-len", "16", "--batch-size", "4"]


def weights(run: Path) -> dict:
    return load_file(str(run / "checkpoint" / "model.safetensors"))


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def cli(*argv, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnkit", *map(str, argv)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_same_seed_and_flags_give_bit_identical_weights(tmp_path, cell):
    data = text_file(tmp_path / "t.txt")
    runs = []
    for name in ("a", "b"):
        run = tmp_path / name
        assert main(["train", "charlm", "--data", str(data), "--run", str(run), "--max-steps", "6", "--eval-every",
                     "3", "--seed", "3", "--cell", cell, "--dropout", "0.2", *TINY]) == 0
        runs.append(run)
    assert same(weights(runs[0]), weights(runs[1]))
    assert (runs[0] / "model.safetensors").read_bytes() == (runs[1] / "model.safetensors").read_bytes()
    other = tmp_path / "c"
    assert main(["train", "charlm", "--data", str(data), "--run", str(other), "--max-steps", "6", "--eval-every",
                 "3", "--seed", "4", "--cell", cell, "--dropout", "0.2", *TINY]) == 0
    assert not same(weights(runs[0]), weights(other))


def test_kill_at_random_moments_then_resume_gives_the_uninterrupted_weights(tmp_path):
    """SIGKILL a real training process at random moments, some inside checkpoint writes (stretched by
    RNNKIT_TEST_WRITE_PAUSE), resume each time; the end is bit-identical to an uninterrupted run."""
    data = text_file(tmp_path / "t.txt")
    args = ["train", "charlm", "--data", data, "--max-steps", "24", "--eval-every", "2", "--seed", "5",
            "--dropout", "0.1", *TINY]
    reference = tmp_path / "ref"
    done = cli(*args, "--run", reference)
    assert done.returncode == 0, done.stderr
    run, rng, kills = tmp_path / "killed", random.Random(0), 0
    env = {**os.environ, "RNNKIT_TEST_WRITE_PAUSE": "0.03"}
    resume: list = []
    for attempt in range(12):
        proc = subprocess.Popen([sys.executable, "-m", "rnnkit", *map(str, args), "--run", str(run), *resume],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        started = time.monotonic()     # the moments count from the run folder's creation: a loaded machine may
        while proc.poll() is None and not (run / "config.json").exists() and time.monotonic() - started < 120:
            time.sleep(0.02)           # take seconds just to import torch
        time.sleep(rng.uniform(0.0, 3.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        resume = ["--resume"]
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    else:
        done = cli(*args, "--run", run, "--resume")
        assert done.returncode == 0, done.stderr
    assert kills >= 2
    assert same(weights(run), weights(reference))
    assert same(load_file(str(run / "model.safetensors")), load_file(str(reference / "model.safetensors")))


def test_divergence_stops_with_one_line_and_keeps_finite_weights(tmp_path, capsys):
    data = series_csv(tmp_path / "s.csv")
    run = tmp_path / "run"
    code = main(["train", "forecast", "--data", str(data), "--run", str(run), "--optimizer", "sgd", "--lr", "1e30",
                 "--clip-norm", "0", "--max-steps", "50", "--eval-every", "100", "--hidden-size", "8"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rnnkit:")]
    assert code == 2 and len(err) == 1 and "diverged at step" in err[0], err
    kept = load_file(str(run / "model.safetensors"))
    assert kept and all(bool(torch.isfinite(t).all()) for t in kept.values())


def test_patience_validates_the_stopping_step_once_and_max_steps_holds_on_resume(tmp_path, capsys):
    data = text_file(tmp_path / "t.txt")
    run = tmp_path / "run"
    args = ["train", "charlm", "--data", str(data), "--run", str(run), "--eval-every", "1", "--patience", "1",
            "--lr", "0.5", "--optimizer", "sgd", *TINY]
    assert main([*args, "--max-steps", "40"]) == 0
    steps = [int(line.split(",")[0]) for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert len(steps) == len(set(steps))
    run2 = tmp_path / "run2"
    base = ["train", "charlm", "--data", str(data), "--run", str(run2), "--eval-every", "2", *TINY]
    assert main([*base, "--max-steps", "2"]) == 0
    assert main([*base, "--max-steps", "4", "--resume"]) == 0
    assert "step 4)" in capsys.readouterr().out.strip().splitlines()[-1]


def test_training_loss_is_logged_about_fifty_times(tmp_path):
    data = text_file(tmp_path / "t.txt")
    run = tmp_path / "run"
    assert main(["train", "charlm", "--data", str(data), "--run", str(run), "--max-steps", "100", "--eval-every",
                 "1000", *TINY]) == 0
    rows = (run / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    train_rows = [r for r in rows[1:] if r.split(",")[header.index("train_loss")]]
    assert 45 <= len(train_rows) <= 55
    assert sum(1 for r in rows[1:] if r.split(",")[header.index("valid_bpc")]) == 1
