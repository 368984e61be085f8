"""rnnkit.tasks.series_inputs: per-series normalisation, the length input, convolution widths under the step
budget, stretching."""
from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest
import torch

from datasets import ts_folder
from rnnkit.errors import UserError
from rnnkit.models import RecurrentConfig


def _series_folder(tmp_path, lengths: list[int]):
    from rnnkit.data.series_files import write_ts
    g = torch.Generator().manual_seed(0)
    folder = tmp_path / "Shapes"
    folder.mkdir(parents=True)
    series = [torch.randn(n, 1, generator=g) for n in lengths]
    write_ts(folder / "Shapes_TRAIN.ts", series, [str(k % 2) for k in range(len(lengths))], name="Shapes")
    return folder


@pytest.mark.slow
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


@pytest.mark.slow
def test_narrower_convolutions_buy_more_passes_under_the_same_budget(tmp_path):
    from rnnkit.tasks import TASKS
    from rnnkit.tasks.series_inputs import fcn_step_cost
    cls = TASKS["classify"]
    folder = str(_series_folder(tmp_path, [3000] * 60))
    wide = cls.prepare(cls.Config(filters="128,256,128"), RecurrentConfig(), folder).data_defaults()["steps"]
    narrow = cls.prepare(cls.Config(filters="64,128,64"), RecurrentConfig(), folder).data_defaults()["steps"]
    assert fcn_step_cost((64, 128, 64)) < 0.4 and narrow > 2 * wide       # the budget binds on both


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_lstm_fcn_and_series_normalisation_from_the_command_line(tmp_path):
    from datasets import ts_folder
    from rnnkit.cli import main
    from rnnkit.export import Stream
    from rnnkit.models import LSTMFCN
    from rnnkit.runs import open_run
    folder = ts_folder(tmp_path / "Toy", train=60, test=20)
    run = tmp_path / "run"
    assert main(["train", "classify", "--data", str(folder), "--run", str(run), "--model", "lstm-fcn", "--normalize",
                 "series", "--max-steps", "4", "--eval-every", "2", "--hidden-size", "4"]) == 0
    task, model = open_run(run)
    assert isinstance(model, LSTMFCN)
    task.load_eval_data(None)
    for s in task.valid_x:                                      # each series and dimension: mean 0, sd 1
        torch.testing.assert_close(s.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
        torch.testing.assert_close(s.std(0, unbiased=False), torch.ones(2), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="convolutional branch"):
        Stream(model.eval(), 1)
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
