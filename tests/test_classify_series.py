"""Series classification on data of any shape: padding never counts (training and evaluation, batch-norm
statistics included), tiny training files train on every series, batches grouped by length."""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
import torch
from torch import nn

from rnnkit.errors import UserError
from rnnkit.models import FCN, LSTMFCN, LSTMInception, MaskedBatchNorm1d, RecurrentConfig
from rnnkit.tasks.base import bucketed_batches, padded_cost
from rnnkit.tasks.classify import HELD_OUT, MIN_HELD_OUT, held_out_share

from datasets import sentiment_csv, ts_folder


def _pad(series: list[torch.Tensor], T: int) -> torch.Tensor:
    out = torch.zeros(len(series), T, series[0].shape[1], dtype=series[0].dtype)
    for b, s in enumerate(series):
        out[b, :len(s)] = s
    return out


FAMILIES = {"lstm-fcn": (LSTMFCN, (16, 32, 16)), "lstm-inception": (LSTMInception, (4,))}


def _model(seed: int = 0, log_length=None, family: str = "lstm-fcn") -> LSTMFCN:
    torch.manual_seed(seed)
    cls, filters = FAMILIES[family]
    return cls(RecurrentConfig(hidden_size=5), input_size=2, output_size=3, log_length=log_length,
               filters=filters).double()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("log_length", [None, (1.9, 0.4)], ids=["no-length", "length-input"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_series_models_loss_gradients_and_statistics_do_not_depend_on_the_padding(mode, log_length, family):
    torch.manual_seed(1)
    series = [torch.randn(n, 2, dtype=torch.float64) for n in (11, 4, 7)]
    lengths, y = torch.tensor([11, 4, 7]), torch.tensor([0, 2, 1])
    results = []
    for T in (11, 19):                                     # tight, and padded by 8 more steps
        model = _model(log_length=log_length, family=family)
        model.train(mode == "train")
        logits, _ = model(_pad(series, T), lengths)
        loss = nn.functional.cross_entropy(logits, y)
        loss.backward()
        norms = [m for m in model.modules() if isinstance(m, MaskedBatchNorm1d)]
        assert norms
        stats = [m.running_mean.clone() for m in norms] + [m.running_var.clone() for m in norms]
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()], stats))
    (loss_a, grads_a, stats_a), (loss_b, grads_b, stats_b) = results
    torch.testing.assert_close(loss_a, loss_b)
    for a, b in zip(grads_a + stats_a, grads_b + stats_b):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_series_predicted_inside_a_padded_batch_equals_it_alone_after_training_steps(family):
    torch.manual_seed(2)
    model = _model(family=family)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    series = [torch.randn(n, 2, dtype=torch.float64) for n in (13, 3, 8, 6)]
    for _ in range(3):                                     # running statistics moved by padded batches
        logits, _ = model(_pad(series, 20), torch.tensor([13, 3, 8, 6]))
        nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0])).backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    together, _ = model(_pad(series, 20), torch.tensor([13, 3, 8, 6]))
    for b, s in enumerate(series):
        alone, _ = model(s[None], torch.tensor([len(s)]))
        torch.testing.assert_close(together[b], alone[0])


def test_batch_norm_statistics_are_those_of_the_series_without_padding():
    torch.manual_seed(3)
    lengths = [9, 2, 5]
    x = torch.randn(3, 4, 9, dtype=torch.float64)
    live = (torch.arange(9)[None] < torch.tensor(lengths)[:, None]).double().unsqueeze(1)    # (B, 1, T)
    masked, plain = MaskedBatchNorm1d(4).double(), nn.BatchNorm1d(4).double()
    y = masked(x * live, live)
    joined = torch.cat([x[b, :, :n] for b, n in enumerate(lengths)], dim=1)[None]            # (1, C, sum L)
    expected = plain(joined)[0]
    torch.testing.assert_close(torch.cat([y[b, :, :n] for b, n in enumerate(lengths)], dim=1), expected)
    torch.testing.assert_close(masked.running_mean, plain.running_mean)
    torch.testing.assert_close(masked.running_var, plain.running_var)
    full = torch.ones(3, 1, 9, dtype=torch.float64)                 # every step live: nn.BatchNorm1d itself
    torch.testing.assert_close(MaskedBatchNorm1d(4).double()(x, full), nn.BatchNorm1d(4).double()(x))


def test_an_all_empty_batch_gives_finite_features():
    fcn = FCN(2)
    out = fcn(torch.zeros(2, 5, 2), torch.tensor([0, 0]))
    assert torch.isfinite(out).all() and not out.any()


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


def test_batches_grouped_by_length_cover_every_example_once_an_epoch_and_repeat_by_seed():
    lengths = torch.randint(1, 500, (203,), generator=torch.Generator().manual_seed(0)).tolist()
    for epoch in (0, 1):
        batches = bucketed_batches(lengths, 16, seed=3, epoch=epoch)
        assert sorted(i for b in batches for i in b.tolist()) == list(range(203))
        assert [b.tolist() for b in batches] == [b.tolist() for b in bucketed_batches(lengths, 16, 3, epoch)]
    assert [b.tolist() for b in bucketed_batches(lengths, 16, 3, 0)] != [b.tolist() for b in bucketed_batches(lengths, 16, 3, 1)]
    random_batches = torch.randperm(203, generator=torch.Generator().manual_seed(1)).split(16)
    random_cost = sum(len(b) * max(lengths[i] for i in b.tolist()) for b in random_batches) / len(random_batches)
    assert padded_cost(lengths, 16) < 0.75 * random_cost      # grouping pads far less than random batches
    assert padded_cost(lengths, 16) >= sum(lengths) / len(random_batches)


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


def _series_folder(tmp_path, lengths: list[int]):
    from rnnkit.data.series_files import write_ts
    g = torch.Generator().manual_seed(0)
    folder = tmp_path / "Shapes"
    folder.mkdir(parents=True)
    series = [torch.randn(n, 1, generator=g) for n in lengths]
    write_ts(folder / "Shapes_TRAIN.ts", series, [str(k % 2) for k in range(len(lengths))], name="Shapes")
    return folder


def test_the_head_reads_the_length_only_where_training_lengths_differ_and_filters_reach_the_model(tmp_path):
    from rnnkit.tasks import TASKS
    cls = TASKS["classify"]
    varied = cls.prepare(cls.Config(filters="6,5,4", length_input="auto"), RecurrentConfig(hidden_size=8), str(_series_folder(tmp_path, [20, 40] * 6)))
    model = varied.build_model()
    assert [b[1].out_channels for b in model.fcn.blocks] == [6, 5, 4]
    assert model.head.in_features == 8 + 4 + 1                  # recurrent branch, convolutions, log length
    mean, sd = varied.meta["log_length"]
    assert mean == pytest.approx((math.log(20) + math.log(40)) / 2) and sd == pytest.approx(math.log(2) / 2)
    # the same values, one series cut shorter: only the length input tells them apart once both branches are blind
    model.eval()
    x = torch.zeros(2, 30, 1)
    with torch.no_grad():
        model.head.weight[:, :-1] = 0
        logits = model(x, torch.tensor([30, 20]))[0]
    assert not torch.allclose(logits[0], logits[1])
    (tmp_path / "b").mkdir()
    equal = cls.prepare(cls.Config(length_input="auto"), RecurrentConfig(hidden_size=8),
                        str(_series_folder(tmp_path / "b", [30] * 12)))
    assert equal.meta["log_length"] is None and equal.build_model().head.in_features == 8 + 128
    off = cls.prepare(cls.Config(), RecurrentConfig(hidden_size=8), str(_series_folder(tmp_path / "c", [20, 40] * 6)))
    assert off.meta["log_length"] is None                        # the default: off
    with pytest.raises(UserError, match="--filters"):
        cls.prepare(cls.Config(filters="64,,x"), RecurrentConfig(), str(tmp_path / "b" / "Shapes"))


def test_narrower_convolutions_buy_more_passes_under_the_same_budget(tmp_path):
    from rnnkit.tasks import TASKS
    from rnnkit.tasks.series_inputs import fcn_step_cost
    cls = TASKS["classify"]
    folder = str(_series_folder(tmp_path, [3000] * 60))
    wide = cls.prepare(cls.Config(filters="128,256,128"), RecurrentConfig(), folder).data_defaults()["steps"]
    narrow = cls.prepare(cls.Config(filters="64,128,64"), RecurrentConfig(), folder).data_defaults()["steps"]
    assert fcn_step_cost((64, 128, 64)) < 0.4 and narrow > 2 * wide       # the budget binds on both


def test_auto_filters_follow_the_passes_the_budget_affords(tmp_path):
    """FCN's widths where the budget pays for MIN_SERIES_PASSES passes of them; half as wide where it does not."""
    from rnnkit.tasks import TASKS
    from rnnkit.tasks.series_inputs import MIN_SERIES_PASSES, NARROW_FILTERS, SERIES_STEP_BUDGET
    from rnnkit.models import FCN_FILTERS
    cls = TASKS["classify"]
    short = cls.prepare(cls.Config(), RecurrentConfig(), str(_series_folder(tmp_path, [50] * 40)))
    assert short.meta["filters"] == FCN_FILTERS
    (tmp_path / "long").mkdir()
    # 200 series of 500 steps: 13 updates a pass, each 8,000 steps: ~70 passes under the budget, far fewer than needed
    long = cls.prepare(cls.Config(), RecurrentConfig(), str(_series_folder(tmp_path / "long", [500] * 200)))
    assert SERIES_STEP_BUDGET / (13 * 16 * 500) < MIN_SERIES_PASSES
    assert long.meta["filters"] == NARROW_FILTERS and long.build_model().fcn.output_size == NARROW_FILTERS[-1]


def test_stretch_reads_every_series_at_the_median_training_length(tmp_path):
    """``--stretch on``: each series (train, validation, test, a prediction's) is resampled to the median length of
    the training series, end points kept; a run opened from its folder stretches the same way."""
    from rnnkit.cli import main
    from rnnkit.runs import open_task
    from rnnkit.tasks import TASKS
    from rnnkit.tasks.series_inputs import stretched
    folder = ts_folder(tmp_path / "Toy", train=40, test=10)
    task = TASKS["classify"].prepare(TASKS["classify"].Config(stretch="on"), RecurrentConfig(), str(folder), seed=0)
    raw, _ = task.read_examples(task.inputs, Path(task.meta["data"]), task.cfg)
    assert task.meta["stretch_to"] == math.ceil(statistics.median(len(s) for s in raw))
    assert {len(x) for x in task.train_x} | {len(x) for x in task.valid_x} == {task.meta["stretch_to"]}
    s = torch.randn(7, 2)
    out = stretched(s, 13)
    torch.testing.assert_close(out[[0, -1]], s[[0, -1]])
    assert out.shape == (13, 2)
    run = tmp_path / "run"
    assert main(["train", "classify", "--data", str(folder), "--run", str(run), "--stretch", "on",
                 "--max-steps", "2"]) == 0
    opened, _ = open_task(run)
    assert opened.meta["stretch_to"] == task.meta["stretch_to"]
    assert len(opened.inputs.encode(opened.cfg, opened.meta, [torch.randn(3, 2)], "x")[0]) == task.meta["stretch_to"]
    off = TASKS["classify"].prepare(TASKS["classify"].Config(), RecurrentConfig(), str(folder), seed=0)
    assert off.meta["stretch_to"] is None and len({len(x) for x in off.train_x}) > 1
