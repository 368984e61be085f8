"""Training: resume equals uninterrupted (bit for bit), checkpoint round trip, atomic checkpoints,
schedules; and each task learns on small data within the test's time."""
import json

import pytest
import torch

from datasets import sentiment_csv, series_csv, text_file, ts_folder
from rnnkit.runtime.checkpoint import load_checkpoint, load_model, save_model
from rnnkit.models import RecurrentConfig
from rnnkit.runs import open_run, write_config
from rnnkit.tasks import TASKS
from rnnkit.runtime.train import SimulatedCrash, TrainConfig, Trainer


def _task(tmp_path, name, data=None, model=None, **task_kw):
    cls = TASKS[name]
    model_cfg = RecurrentConfig(**{**cls.model_defaults, **(model or {})})
    return cls.prepare(cls.Config(**task_kw), model_cfg, data, seed=3)


def _fit(task, run_dir, cfg, crash_after=None, resume=False):
    torch.manual_seed(123)  # initial weights
    model = task.build_model()
    run_dir.mkdir(exist_ok=True)
    write_config(run_dir, task, cfg)
    trainer = Trainer(task, model, cfg, run_dir)
    if resume:
        assert trainer.resume()
    try:
        trainer.fit(crash_after=crash_after)
    except SimulatedCrash:
        pass
    return model


@pytest.mark.parametrize("name,kw,optimizer", [
    ("charlm", dict(model={"hidden_size": 16, "num_layers": 2, "dropout": 0.2}, seq_len=16), "adamw"),
    ("classify", dict(model={"hidden_size": 16, "bidirectional": True, "dropout": 0.1}), "adamw"),
    ("charlm", dict(model={"hidden_size": 16}, seq_len=16), "rmsprop"),
])
def test_killed_run_resumes_to_the_same_weights_bit_for_bit(tmp_path, name, kw, optimizer):
    data = text_file(tmp_path / "t.txt") if name == "charlm" else sentiment_csv(tmp_path / "s.csv")
    task = _task(tmp_path, name, str(data), **kw)
    cfg = TrainConfig(steps=14, batch_size=8, eval_every=4, schedule="cosine", optimizer=optimizer, weight_decay=0.01,
                      momentum=0.5 if optimizer == "rmsprop" else 0.0, rmsprop_alpha=0.9)
    whole = _fit(task, tmp_path / "whole", cfg)
    _fit(task, tmp_path / "killed", cfg, crash_after=10)          # last checkpoint at step 8
    assert json.loads((tmp_path / "killed" / "checkpoint" / "trainer.json").read_text())["step"] == 8
    resumed = _fit(task, tmp_path / "killed", cfg, resume=True)
    for (n1, p1), (n2, p2) in zip(whole.state_dict().items(), resumed.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2), n1
    a = (tmp_path / "whole" / "metrics.csv").read_text()
    b = (tmp_path / "killed" / "metrics.csv").read_text()
    strip = lambda text: [",".join(c for i, c in enumerate(r.split(",")) if i != 1) for r in text.splitlines()]
    assert strip(a) == strip(b)                                   # same rows, elapsed time aside


def test_checkpoint_round_trip_and_run_folder_rebuilds_alone(tmp_path):
    from safetensors.torch import load_file
    task = _task(tmp_path, "reber", model={"hidden_size": 8}, valid_strings=20, samples=5)
    run = tmp_path / "r"
    model = _fit(task, run, TrainConfig(steps=4, eval_every=2))
    model_t, opt_t, trainer = load_checkpoint(run)                 # the latest step, for resuming
    assert trainer["step"] == 4 and any(k.startswith("opt.") for k in opt_t)
    assert all(torch.equal(model_t[k], v) for k, v in model.state_dict().items())
    task2, model2 = open_run(run)                                  # the best weights, from the folder alone
    best = load_file(str(run / "model.safetensors"))
    assert all(torch.equal(best[k], v) for k, v in model2.state_dict().items())
    save_model(tmp_path / "copy.safetensors", model2)
    again = load_model(tmp_path / "copy.safetensors", task2.build_model())
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model2.state_dict().values()))


def test_checkpoint_swap_keeps_the_old_one_when_a_write_dies(tmp_path, monkeypatch):
    task = _task(tmp_path, "reber", model={"hidden_size": 8}, valid_strings=20, samples=5)
    run = tmp_path / "r"
    _fit(task, run, TrainConfig(steps=2, eval_every=2))
    import rnnkit.runtime.checkpoint as ck

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(ck, "atomic_write_json", boom)
    with pytest.raises(OSError):
        ck.save_checkpoint(run, task.build_model(), torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1), {}, {})
    assert load_checkpoint(run)[2]["step"] == 2                    # the complete old checkpoint is still there


def test_time_budget_stops_and_still_validates(tmp_path):
    task = _task(tmp_path, "reber", model={"hidden_size": 8}, valid_strings=20, samples=5)
    trainer = Trainer(task, task.build_model(), TrainConfig(steps=10**6, eval_every=10**5, max_time=1.0), tmp_path)
    metrics = trainer.fit()
    assert 0 < trainer.step < 10**6 and "solved" in metrics


def test_reber_lstm_learns_next_symbols(tmp_path):
    task = _task(tmp_path, "reber", embedded=False, valid_strings=200, samples=50)
    cfg = TrainConfig(steps=300, batch_size=32, lr=1e-2, eval_every=300, clip_norm=5.0)
    model = task.build_model()
    metrics = Trainer(task, model, cfg, tmp_path).fit()
    assert metrics["symbol_acc"] > 0.95 and metrics["in_grammar"] > 0.5, metrics


def test_sort_with_attention_learns_short_sequences(tmp_path):
    task = _task(tmp_path, "seq2seq", model={"hidden_size": 64}, sort_min_len=2, sort_max_len=4, sort_symbols=5,
                 valid_size=200)
    metrics = Trainer(task, task.build_model(), TrainConfig(steps=250, batch_size=64, lr=5e-3, eval_every=250),
                      tmp_path).fit()
    assert metrics["exact_match"] > 0.8, metrics


def test_classification_beats_chance(tmp_path):
    folder = ts_folder(tmp_path / "Toy", train=80, test=60)
    task = _task(tmp_path, "classify", str(folder), model={"hidden_size": 16})
    metrics = Trainer(task, task.build_model(), TrainConfig(steps=60, batch_size=16, lr=1e-2, eval_every=60),
                      tmp_path).fit()
    assert metrics["accuracy"] > 0.85, metrics


def test_forecast_beats_the_naive_last_value(tmp_path):
    task = _task(tmp_path, "forecast", str(series_csv(tmp_path / "f.csv")), model={"hidden_size": 32}, window=12)
    metrics = Trainer(task, task.build_model(), TrainConfig(steps=200, batch_size=32, lr=1e-2, eval_every=200),
                      tmp_path).fit()
    assert metrics["mae"] < 0.7 * metrics["naive_mae"], metrics


def test_a_tie_on_the_primary_metric_keeps_the_later_checkpoint(tmp_path):
    """Small validation sets score many checkpoints alike on accuracy: the tie goes to the later, better trained."""
    from safetensors.torch import load_file
    task = _task(tmp_path, "classify", str(sentiment_csv(tmp_path / "s.csv")), model={"hidden_size": 8},
                 valid_fraction=0.1)                                 # a held-out share to choose on
    scores = iter([(0.5, 0.9), (1.0, 0.6), (1.0, 0.3), (1.0, 0.4), (0.9, 0.1)])   # (accuracy, loss) per validation
    seen = []

    def evaluate(model):
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        accuracy, loss = next(scores)
        return {"accuracy": accuracy, "loss": loss}
    task.evaluate = evaluate
    _fit(task, tmp_path / "run", TrainConfig(steps=10, batch_size=8, eval_every=2))
    best = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert len(seen) == 5
    assert not torch.equal(seen[3]["head.weight"], seen[2]["head.weight"])
    assert all(torch.equal(best[k], v) for k, v in seen[3].items())      # the last of the three at accuracy 1.0
    scores = iter([(0.5, 0.9), (1.0, 0.6), (1.0, 0.3), (1.0, 0.4), (1.0, 0.1)])   # ties do not reset patience
    seen.clear()
    _fit(task, tmp_path / "patient", TrainConfig(steps=10, batch_size=8, eval_every=2, patience=2))
    assert len(seen) == 4                                                # stopped after two validations without gain


def test_classify_recipes_follow_the_data_unless_a_setting_is_given(tmp_path):
    from rnnkit.cli import main
    from rnnkit.tasks.base import padded_cost
    from rnnkit.models import FCN_FILTERS
    from rnnkit.tasks.base import STEP_OVERHEAD
    from rnnkit.tasks.series_inputs import SERIES_EPOCHS, SERIES_STEP_BUDGET, fcn_step_cost
    from rnnkit.tasks.text_inputs import TEXT_EPOCHS, TEXT_STEP_BUDGET
    folder = ts_folder(tmp_path / "Toy", train=60, test=20)
    run = tmp_path / "auto"
    assert main(["train", "classify", "--data", str(folder), "--run", str(run), "--max-time", "0.5"]) == 0
    config = json.loads((run / "config.json").read_text())
    task = TASKS["classify"].prepare(TASKS["classify"].Config(), RecurrentConfig(), str(folder), seed=0)  # same split
    per_step = fcn_step_cost(FCN_FILTERS, 2)                          # a bivariate step costs a little more
    # an update's padded steps: random batches, as batch norm's statistics in training need
    n, cost = len(task.train_y), padded_cost([len(x) for x in task.train_x], 16, grouped=False) * per_step
    assert config["task_config"]["model"] == "lstm-fcn"               # auto: the convolutional branch for series
    assert config["task_config"]["batches"] == "random"
    assert config["model"]["hidden_size"] == 8 and config["task_config"]["readout"] == "last"
    assert config["train"]["steps"] == min(SERIES_EPOCHS * -(-n // 16),
                                           int(SERIES_STEP_BUDGET / (cost + STEP_OVERHEAD)))
    assert (config["train"]["batch_size"], config["train"]["lr"], config["train"]["schedule"]) == (16, 1e-3, "cosine")
    assert config["train"]["eval_every"] == config["train"]["steps"] // 40
    given = tmp_path / "given"                                        # a flag or a --config setting wins
    (tmp_path / "settings.json").write_text(json.dumps({"schedule": "linear"}))
    assert main(["train", "classify", "--data", str(folder), "--run", str(given), "--hidden-size", "4",
                 "--max-steps", "3", "--lr", "0.01", "--config", str(tmp_path / "settings.json"),
                 "--model", "rnn"]) == 0
    config = json.loads((given / "config.json").read_text())
    assert (config["train"]["steps"], config["train"]["lr"], config["train"]["schedule"]) == (3, 0.01, "linear")
    assert config["train"]["batch_size"] == 16 and config["task_config"]["model"] == "rnn"
    given_batch = tmp_path / "batch"                                  # the steps follow a batch size given
    assert main(["train", "classify", "--data", str(folder), "--run", str(given_batch), "--batch-size", "8",
                 "--max-time", "0.2"]) == 0
    assert json.loads((given_batch / "config.json").read_text())["train"]["steps"] == min(
        SERIES_EPOCHS * -(-n // 8), int(SERIES_STEP_BUDGET / (padded_cost([len(x) for x in task.train_x], 8,
                                                                          grouped=False) * per_step + STEP_OVERHEAD)))
    assert config["model"]["hidden_size"] == 4                        # given: not the recipe's 8
    text = tmp_path / "text"                                          # text: words, both ways, max over time
    assert main(["train", "classify", "--data", str(sentiment_csv(tmp_path / "s.csv", n=400)), "--run", str(text),
                 "--max-time", "0.5"]) == 0
    config = json.loads((text / "config.json").read_text())
    task = TASKS["classify"].prepare(TASKS["classify"].Config(), RecurrentConfig(), str(tmp_path / "s.csv"), seed=0)
    cost = padded_cost([len(x) for x in task.train_x], 32)
    assert (config["task_config"]["model"], config["task_config"]["tokens"], config["task_config"]["readout"],
            config["task_config"]["batches"]) == ("rnn", "word", "max", "length")
    assert config["model"]["bidirectional"] and config["model"]["dropout"] == 0.5
    assert config["model"]["hidden_size"] == 128                      # the task's model default, not the series 8
    assert config["train"]["steps"] == min(TEXT_EPOCHS * -(-len(task.train_y) // 32),
                                           int(TEXT_STEP_BUDGET / (cost + STEP_OVERHEAD)))
    assert config["train"]["schedule"] == "cosine" and config["train"]["batch_size"] == 32


def test_rmsprop_flags_reach_the_optimizer():
    from rnnkit.runtime.train import make_optimizer
    opt = make_optimizer(TrainConfig(optimizer="rmsprop", lr=1e-3, rmsprop_alpha=0.9, momentum=0.5),
                         [torch.nn.Parameter(torch.zeros(2))])
    assert isinstance(opt, torch.optim.RMSprop)
    assert {k: opt.defaults[k] for k in ("lr", "alpha", "momentum")} == {"lr": 1e-3, "alpha": 0.9, "momentum": 0.5}
