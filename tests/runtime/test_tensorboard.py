"""TensorBoard: a run's event files, read back with TensorBoard's own reader, hold what metrics.csv holds and the
run's figures; a resumed run purges what it replays; a full disk under the event writer is the run's one line."""
import csv
import errno
import os
from pathlib import Path

import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

import rnnkit.runtime.tensorboard as tb  # noqa: E402
from datasets import ts_file  # noqa: E402
from rnnkit.runtime.checkpoint import load_checkpoint  # noqa: E402
from rnnkit.cli import main  # noqa: E402

pytestmark = pytest.mark.slow

TINY = ["--hidden-size", "4", "--max-steps", "6", "--eval-every", "3", "--log-every", "2"]
REBER = ["--hidden-size", "8", "--valid-strings", "20", "--samples", "5", "--batch-size", "4", "--eval-every", "2",
         "--log-every", "1"]


def events(run: Path) -> EventAccumulator:
    return EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0}).Reload()


def scalars(acc: EventAccumulator, tag: str) -> dict[int, float]:
    return {e.step: e.value for e in acc.Scalars(tag)}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnkit: error: "), err
    return err[0]


def test_a_run_writes_its_metrics_test_scores_and_figures(tmp_path):
    folder, run = tmp_path / "Toy", tmp_path / "run"
    folder.mkdir()
    for part, n, seed in (("TRAIN", 60, 2), ("TEST", 30, 3)):    # an archive folder: its test file is scored once
        ts_file(folder / f"Toy_{part}.ts", n=n, seed=seed)
    assert main(["train", "classify", "--data", str(folder), "--run", str(run), "--model", "rnn", *TINY]) == 0
    acc = events(run)
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    logged = {int(r["step"]): float(r["train_loss"]) for r in rows if int(r["step"]) % 2 == 0}
    assert scalars(acc, "train/loss") == pytest.approx(logged, rel=1e-6)           # float32 in the event file
    assert scalars(acc, "train/learning_rate") == pytest.approx({s: float(r["lr"]) for r in rows
                                                                 if (s := int(r["step"])) % 2 == 0}, rel=1e-6)
    assert scalars(acc, "train/grad_norm").keys() == scalars(acc, "train/seq_per_s").keys() == logged.keys()
    assert all(v > 0 for v in scalars(acc, "train/grad_norm").values())
    for metric in ("accuracy", "macro_f1", "loss"):
        assert scalars(acc, f"valid/{metric}") == pytest.approx(
            {int(r["step"]): float(r[f"valid_{metric}"]) for r in rows if r[f"valid_{metric}"]}, rel=1e-6)
    assert set(scalars(acc, "valid/accuracy")) == {3, 6}
    assert "test/accuracy" in acc.Tags()["scalars"]                                  # the test file, scored once
    curve = acc.Images("figures/learning_curve")
    assert len(curve) == 1 and curve[0].encoded_image_string == (run / "learning_curve.png").read_bytes()


def test_attention_maps_become_images(tmp_path):
    run = tmp_path / "s2s"
    assert main(["train", "seq2seq", "--attention", "dot", "--run", str(run), *TINY]) == 0
    maps = events(run).Images("figures/attention")
    assert len(maps) == 1 and maps[0].encoded_image_string == (run / "attention.png").read_bytes()


def test_off_by_flag_or_without_the_package(tmp_path, monkeypatch, capsys):
    train = ["train", "reber", *REBER, "--max-steps", "2"]
    assert main([*train, "--run", str(tmp_path / "off"), "--no-tensorboard"]) == 0
    assert not (tmp_path / "off" / "tensorboard").exists()
    monkeypatch.setattr(tb, "available", lambda: False)
    assert main([*train, "--run", str(tmp_path / "default")]) == 0                 # trains without it
    assert not (tmp_path / "default" / "tensorboard").exists()
    capsys.readouterr()
    assert main([*train, "--run", str(tmp_path / "asked"), "--tensorboard"]) == 2
    assert "expected the tensorboard package for --tensorboard" in one_error_line(capsys)
    assert not (tmp_path / "asked").exists()


def test_a_resumed_run_purges_the_steps_it_replays(tmp_path):
    killed = tb.Board(tmp_path / "events")
    for step in range(1, 7):                       # a run killed at step 6, its last checkpoint at step 4
        killed.scalars(step, {"train/loss": 100.0 + step})
    killed.close()
    resumed = tb.Board(tmp_path / "events", purge_step=5)
    for step in range(5, 9):
        resumed.scalars(step, {"train/loss": float(step)})
    resumed.close()
    acc = EventAccumulator(str(tmp_path / "events")).Reload()
    assert scalars(acc, "train/loss") == {1: 101, 2: 102, 3: 103, 4: 104, 5: 5, 6: 6, 7: 7, 8: 8}
    run = tmp_path / "run"                                             # and through `rnnkit train --resume`
    assert main(["train", "reber", *REBER, "--run", str(run), "--max-steps", "4"]) == 0
    assert main(["train", "reber", *REBER, "--run", str(run), "--max-steps", "8", "--resume"]) == 0
    assert len(list((run / "tensorboard").iterdir())) == 2
    assert sorted(scalars(events(run), "train/loss")) == list(range(1, 9))


def test_a_full_disk_under_the_event_writer_is_one_line_and_resume_finishes(tmp_path, monkeypatch, capsys):
    reference = tmp_path / "reference"
    assert main(["train", "reber", *REBER, "--run", str(reference), "--max-steps", "8", "--no-tensorboard"]) == 0
    run, real_write, calls = tmp_path / "run", tb._write, []

    def write(fd, data):                # the disk fills in the middle of step 6's training event
        calls.append(len(data))
        if len(calls) == 9:
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(tb, "_write", write)
    capsys.readouterr()
    assert main(["train", "reber", *REBER, "--run", str(run), "--max-steps", "8"]) == 2
    line = one_error_line(capsys)
    assert f"out of disk space writing {run / 'tensorboard'}/events.out.tfevents." in line, line
    assert "needed " in line and line.endswith("free space and run again with --resume"), line
    assert load_checkpoint(run)[2]["step"] == 4
    monkeypatch.setattr(tb, "_write", real_write)                                  # room again
    assert main(["train", "reber", *REBER, "--run", str(run), "--max-steps", "8", "--resume"]) == 0
    assert (run / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
    assert sorted(scalars(events(run), "train/loss")) == list(range(1, 9))          # the torn record skipped
