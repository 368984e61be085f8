"""Long texts read in windows: the window follows from the data and the budget, training reads a seeded random
window of each long text, scoring averages the log-probabilities of windows spread over it, and texts that fit
are read whole exactly as before."""
import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from rnnkit.cli import main
from rnnkit.data.padding import pad_sequences
from rnnkit.data.windows import EVAL_WINDOWS, spread_windows, window_length
from rnnkit.models import RecurrentConfig
from rnnkit.tasks import TASKS
from rnnkit.tasks.text_inputs import TEXT_EPOCHS, TEXT_STEP_BUDGET


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in rows), encoding="utf-8")
    return path


def long_texts(n=60, length=3000, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        letters = "abc" if i % 2 else "xyz"
        rows.append(("".join(letters[k] for k in torch.randint(0, 3, (length,), generator=g).tolist()), f"c{i % 2}"))
    return rows


def prepare(path, **cfg):
    Classify = TASKS["classify"]
    return Classify.prepare(replace(Classify.Config(), tokens="char", **cfg), RecurrentConfig(), str(path), seed=3)


def test_window_rule_follows_the_budget():
    short = [50] * 1000                                                     # 150k steps for three passes: whole
    assert window_length(short, TEXT_STEP_BUDGET, TEXT_EPOCHS) == 0
    long = [10_000] * 3000                                                  # 90M steps for three passes
    W = window_length(long, TEXT_STEP_BUDGET, TEXT_EPOCHS)
    assert TEXT_EPOCHS * 3000 * W <= TEXT_STEP_BUDGET < TEXT_EPOCHS * 3000 * (W + 1)
    assert window_length([10_000] * 10**6, TEXT_STEP_BUDGET, TEXT_EPOCHS) == 256     # never below the minimum


def test_training_reads_a_seeded_window_of_each_long_text(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", long_texts() + [("short text", "c0")])
    task = prepare(path, window="500")
    assert task.meta["window"] == 500
    batch = task.train_batch(0, 8)
    assert batch.x.shape[1] <= 500 and int(batch.lengths.max()) <= 500
    again = prepare(path, window="500").train_batch(0, 8)
    assert torch.equal(batch.x, again.x)                                    # the seed and the step alone
    other = task.train_batch(task.data_defaults()["steps"] // 3 + 1, 8)
    assert other.x.shape[1] <= 500
    for row, n in zip(batch.x, batch.lengths):                              # each row is a piece of some text
        piece = row[:n]
        assert any(piece.tolist() == x[o:o + len(piece)].tolist() for x in task.train_x
                   for o in range(0, len(x) - len(piece) + 1) if x[o] == piece[0])


def test_scores_average_the_windows_log_probabilities(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", long_texts())
    task = prepare(path, window="700")
    model = task.build_model()
    xs = task.valid_x[:3] + [task.valid_x[0][:100]]                        # three long texts and a short one
    got = task.logits(model, xs)
    model.eval()
    for x, row in zip(xs, got):
        windows = spread_windows(x, 700, EVAL_WINDOWS)
        assert len(windows) == (1 if len(x) <= 700 else EVAL_WINDOWS)
        z, _ = model(*pad_sequences(windows))
        expected = F.log_softmax(z, -1).mean(0)                 # a short text: its own log-probabilities
        torch.testing.assert_close(F.log_softmax(row, -1), F.log_softmax(expected, -1), rtol=1e-5, atol=1e-5)


def test_texts_that_fit_are_read_whole_as_before(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", long_texts(n=60, length=200))
    task = prepare(path)                                                    # auto: 3 passes of 12k steps fit
    assert task.meta["window"] == 0
    off = prepare(path, window="off")
    for step in (0, 5):
        a, b = task.train_batch(step, 8), off.train_batch(step, 8)
        assert torch.equal(a.x, b.x) and torch.equal(a.lengths, b.lengths)
    model = task.build_model()
    torch.testing.assert_close(task.logits(model, task.valid_x), off.logits(model, off.valid_x))


def test_the_budget_counts_windows_not_whole_texts():
    from rnnkit.tasks.text_inputs import TextInputs
    cfg = TASKS["classify"].Config(batches="length")
    lengths = [10_000] * 3000                                               # whole: 8M steps buy 24 updates
    whole = TextInputs.recipe(cfg, {"window": 0}, lengths, None, 0)["steps"]
    W = window_length(lengths, TEXT_STEP_BUDGET, TEXT_EPOCHS)
    windowed = TextInputs.recipe(cfg, {"window": W}, lengths, None, 0)["steps"]
    passes = TEXT_EPOCHS * -(-3000 // 32)                                   # three passes: 282 updates
    assert whole < 30 and 0.9 * passes <= windowed <= passes                # (each update's overhead aside)


@pytest.mark.parametrize("value", ["0", "-3", "wide"])
def test_a_bad_window_is_one_line(tmp_path, capsys, value):
    path = write_jsonl(tmp_path / "train.jsonl", long_texts(n=10, length=50))
    code = main(["train", "classify", "--data", str(path), "--run", str(tmp_path / "run"), f"--window={value}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--window" in err[0] and repr(value) in err[0]


def test_regression_averages_the_windows_predictions(tmp_path):
    rows = [(t, str(float(i))) for i, (t, _) in enumerate(long_texts(n=30, length=1000))]
    path = write_jsonl(tmp_path / "train.jsonl", [(t, float(y)) for t, y in rows])
    Regress = TASKS["regress"]
    task = Regress.prepare(replace(Regress.Config(), tokens="char", window="300"), RecurrentConfig(), str(path),
                           seed=0)
    model = task.build_model()
    model.eval()
    x = task.train_x[0]
    z, _ = model(*pad_sequences(spread_windows(x, 300, EVAL_WINDOWS)))
    torch.testing.assert_close(task.logits(model, [x])[0], z.mean(0))
