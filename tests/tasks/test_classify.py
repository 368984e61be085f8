"""rnnkit.tasks.classify: the held-out share, tiny training files, series batches that mix the classes,
batch-norm statistics after a validation, and the recipes that follow the data."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from datasets import sentiment_csv, ts_folder
from rnnkit.models import RecurrentConfig
from rnnkit.tasks import TASKS
from rnnkit.tasks.classify import HELD_OUT, MIN_HELD_OUT, held_out_share

pytestmark = pytest.mark.slow


def test_the_held_out_share_follows_the_size_of_the_training_file():
    two_a_class = torch.arange(104) // 2                      # 52 classes of two: nothing held out
    assert held_out_share(two_a_class) == 0.0
    assert held_out_share(torch.arange(MIN_HELD_OUT * 10) % 2) == HELD_OUT
    assert held_out_share(torch.arange(MIN_HELD_OUT * 10 - 10) % 2) == 0.0     # 49 would be held out
    assert held_out_share(torch.arange(1000) % 200) == 0.0      # 100 held out, but fewer than five a class
    assert held_out_share(two_a_class, 0.5) == 0.5              # the user's share wins


def test_a_tiny_training_file_trains_on_every_series_and_keeps_the_final_weights(tmp_path):
    from safetensors.torch import load_file

    from rnnkit.cli import main
    from rnnkit.runs import open_run
    folder = ts_folder(tmp_path / "Tiny", train=8, test=6)
    run = tmp_path / "run"
    assert main(["train", "classify", "--data", str(folder), "--run", str(run), "--max-steps", "6",
                 "--eval-every", "2", "--hidden-size", "3"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["meta"]["held_out"] == 0.0
    task, model = open_run(run)
    ckpt = load_file(str(run / "checkpoint" / "model.safetensors")) if (run / "checkpoint").is_dir() else None
    final = load_file(str(run / "model.safetensors"))
    if ckpt is not None:                                        # the model is the last step's weights
        assert all(torch.equal(final[k], ckpt[k]) for k in final)
    from rnnkit.tasks import TASKS
    fresh = TASKS["classify"].prepare(TASKS["classify"].Config(), RecurrentConfig(), str(folder), seed=0)
    assert len(fresh.train_y) == 8 and fresh.keeps_last       # both series of every class train


def test_series_batches_mix_the_classes_where_length_tells_them_apart(tmp_path):
    """Batch norm trains on each batch's statistics: batches of one length are, where each class has its own
    lengths (gestures), batches of one class, and on a small set the same few every pass. A 50-series set of five
    length bands, one class each: the default (random) batches mix classes and change from pass to pass; a text
    model (no batch norm) keeps its batches grouped by length."""
    from rnnkit.tasks import TASKS
    folder = tmp_path / "Bands"
    folder.mkdir()
    lines = ["@problemName Bands", "@univariate true", "@equalLength false", "@classLabel true 0 1 2 3 4", "@data"]
    for i in range(50):
        c = i % 5
        lines.append(",".join(f"{math.sin(t / (c + 2)):.3f}" for t in range(20 + 40 * c + i // 5)) + f":{c}")
    for split in ("TRAIN", "TEST"):
        (folder / f"Bands_{split}.ts").write_text("\n".join(lines) + "\n")
    task = TASKS["classify"].prepare(TASKS["classify"].Config(), RecurrentConfig(), str(folder), seed=0)
    assert task.cfg.batches == "random" and len(task.train_y) == 50
    batches = [[task.train_batch(e * 4 + k, 16) for k in range(4)] for e in range(2)]     # two passes of 4
    classes = [len(set(b.y.tolist())) for p in batches for b in p]
    assert sum(classes) / len(classes) >= 3         # grouped by length, a batch holds one or two bands: 1-2 classes
    assert [sorted(b.lengths.tolist()) for b in batches[0]] != [sorted(b.lengths.tolist()) for b in batches[1]]
    text = TASKS["classify"].prepare(TASKS["classify"].Config(), RecurrentConfig(),
                                     str(sentiment_csv(tmp_path / "s.csv", n=200)), seed=0)
    assert text.cfg.batches == "length"


def test_after_a_validation_evaluation_normalises_as_one_batch_of_every_training_series(tmp_path):
    """Batch norm's moving average over small batches of very different series is not the population's (it misses
    the spread between batches' means); each validation sets the population statistics, which the saved model keeps."""
    from rnnkit.tasks import TASKS
    from rnnkit.data.padding import pad_sequences
    from rnnkit.data.series_files import write_ts
    g = torch.Generator().manual_seed(0)
    series = [torch.randn(int(torch.randint(20, 40, (1,), generator=g)), 1, generator=g) * (1 + 10 * (k % 7))
              + 5 * k for k in range(42)]
    folder = tmp_path / "Scales"
    folder.mkdir()
    write_ts(folder / "Scales_TRAIN.ts", series, [str(k % 21) for k in range(42)], name="Scales")
    cls = TASKS["classify"]
    task = cls.prepare(cls.Config(normalize="none"), RecurrentConfig(hidden_size=3), str(folder), seed=0)
    model = task.build_model()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for step in range(6):                                  # batches of 4: running statistics of a few series each
        batch = task.train_batch(step, 4)
        nn.functional.cross_entropy(model(batch.x, batch.lengths)[0], batch.y).backward()
        opt.step()
        opt.zero_grad()
    x, lengths = pad_sequences(task.train_x)
    model.train()
    with torch.no_grad():
        whole = model(x, lengths)[0]                         # every training series in one batch
    model.eval()
    moving = model(x, lengths)[0]
    assert not torch.allclose(moving, whole, rtol=0.05, atol=0.05)
    task.evaluate(model)
    torch.testing.assert_close(model(x, lengths)[0], whole, rtol=0.05, atol=0.05)
    assert model.training is False


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
