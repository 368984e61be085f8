"""Same seed, same run; a kill at any moment loses nothing; damaged files and nonsense values get one line."""
import contextlib
import io
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from datasets import sentiment_csv, series_csv, text_file
from rnnkit.runtime.checkpoint import run_lock
from rnnkit.cli import main
from rnnkit.data.text import read_labelled

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


def test_damaged_checkpoint_is_reported_and_the_previous_one_used(tmp_path, capsys):
    data = text_file(tmp_path / "t.txt")
    run = tmp_path / "run"
    args = ["train", "charlm", "--data", str(data), "--run", str(run), "--eval-every", "2", "--seed", "1", *TINY]
    assert main([*args, "--max-steps", "4"]) == 0
    reference = tmp_path / "ref"
    assert main(["train", "charlm", "--data", str(data), "--run", str(reference), "--eval-every", "2", "--seed", "1",
                 "--max-steps", "6", *TINY]) == 0
    damaged = run / "checkpoint" / "model.safetensors"
    damaged.write_bytes(damaged.read_bytes()[:100])                        # truncated
    capsys.readouterr()
    assert main([*args, "--max-steps", "6", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "skipping a damaged checkpoint" in err and "Traceback" not in err
    assert same(weights(run), weights(reference))
    for name in ("checkpoint", "checkpoint.old"):                          # nothing usable left: one clear error
        path = run / name / "optimizer.safetensors"
        path.write_bytes(b"not a safetensors file")
    assert main([*args, "--max-steps", "8", "--resume"]) == 2
    assert "every one is damaged" in capsys.readouterr().err.strip().splitlines()[-1]


def test_a_second_train_into_a_folder_being_trained_is_refused(tmp_path, capsys):
    data = text_file(tmp_path / "t.txt")
    run = tmp_path / "run"
    assert main(["train", "charlm", "--data", str(data), "--run", str(run), "--max-steps", "2", *TINY]) == 0
    with run_lock(run):
        capsys.readouterr()
        assert main(["train", "charlm", "--run", str(run), "--resume"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "being trained by process" in err[0]


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


# ------------------------------------------------------------------------------------------- files

def test_real_csv_files_read_as_written(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes('\ufefftext,label\r\n"two\r\nlines, with a comma",pos\r\nplain,neg\r\n\r\n'.encode("utf-8"))
    assert read_labelled(path) == [("two\r\nlines, with a comma", "pos"), ("plain", "neg")]
    tsv = tmp_path / "d.tsv"
    tsv.write_text("text\tlabel\na, b\tpos\nc\tneg\n")
    assert read_labelled(tsv) == [("a, b", "pos"), ("c", "neg")]


@pytest.mark.parametrize("body, expected", [
    ("text,label\nfine,pos\nno label here\n", "expected a 'label' value on line 3"),
    ("text,label\nfine,pos\nempty,\n", "expected a 'label' value on line 3"),
    ("text,label\nfine,pos\na,b,c\n", "expected 2 fields on line 3"),
    ("words,label\nfine,pos\n", "expected columns 'text' and 'label'"),
])
def test_broken_csv_gets_the_line_and_what_was_expected(tmp_path, capsys, body, expected):
    path = tmp_path / "d.csv"
    path.write_text(body)
    assert main(["train", "classify", "--data", str(path), "--run", str(tmp_path / "run"), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert not (tmp_path / "run").exists()                               # no half-written run folder


# ------------------------------------------------------------------------ property: any flag, any file

FLAGS = {
    "--hidden-size": st.one_of(st.integers(-5, 40), st.sampled_from(["x", "1.5", "", "1e9"])),
    "--num-layers": st.integers(-2, 3),
    "--dropout": st.one_of(st.floats(-1, 2), st.sampled_from(["nan", "inf", "x"])),
    "--lr": st.one_of(st.floats(-1, 10), st.sampled_from(["abc", "nan", "inf", "1e300"])),
    "--batch-size": st.integers(-3, 9),
    "--eval-every": st.integers(-1, 4),
    "--clip-norm": st.floats(-1, 5),
    "--optimizer": st.sampled_from(["adam", "sgd", "adamw", "rmsprop", ""]),
    "--schedule": st.sampled_from(["constant", "cosine", "linear", "step", "exp"]),
    "--seed": st.one_of(st.integers(-3, 2 ** 64), st.just("seven")),
    "--max-steps": st.integers(-2, 3),
    "--cell": st.sampled_from(["lstm", "gru", "elman", "rnn"]),
    "--valid-fraction": st.floats(-0.5, 1.5),
    "--patience": st.integers(-1, 2),
    "--warmup-steps": st.integers(-1, 3),
}
TASK_FLAGS = {
    "charlm": {"--seq-len": st.integers(-2, 40), "--level": st.sampled_from(["char", "byte", "auto", "word"]),
               "--eval-chars": st.integers(-5, 200)},
    "classify": {"--tokens": st.sampled_from(["char", "word", "bpe"]), "--max-len": st.integers(-1, 8),
                 "--min-count": st.integers(-1, 3)},
    "forecast": {"--window": st.integers(-1, 30), "--mode": st.sampled_from(["one", "many", "all"])},
}


def _broken_files(draw, tmp: Path, task: str) -> Path:
    kind = draw(st.sampled_from(["valid", "empty", "binary", "truncated", "garbage", "folder", "missing"]))
    path = tmp / {"charlm": "d.txt", "classify": draw(st.sampled_from(["d.csv", "d.tsv", "d.jsonl", "d.ts"])),
                  "forecast": "d.csv"}[task]
    if kind == "missing":
        return path
    if kind == "folder":
        path.mkdir()
        return path
    if task == "charlm":
        good = text_file(tmp / "good.txt").read_bytes()
    elif task == "forecast":
        good = series_csv(tmp / "good.csv").read_bytes()
    elif path.suffix == ".csv":
        good = sentiment_csv(tmp / "good.csv").read_bytes()
    elif path.suffix == ".tsv":
        good = sentiment_csv(tmp / "good.csv").read_bytes().replace(b",", b"\t")
    elif path.suffix == ".jsonl":
        good = b'{"text": "a good day", "label": "pos"}\n{"text": "a bad day", "label": "neg"}\n' * 20
    else:
        good = b"@classLabel true a b\n@data\n1,2,3:a\n3,2,1:b\n" * 1 + b"1,2,2:a\n2,2,1:b\n" * 10
    data = {"valid": good, "empty": b"", "binary": bytes(draw(st.lists(st.integers(0, 255), min_size=1, max_size=300))),
            "truncated": good[:draw(st.integers(1, max(1, len(good) - 1)))],
            "garbage": draw(st.text(min_size=1, max_size=200)).encode("utf-8", "replace")}[kind]
    path.write_bytes(data)
    return path


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_flags_and_files_exit_0_or_2_with_one_line(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("fuzz")
    task = data.draw(st.sampled_from(sorted(TASK_FLAGS)))
    flags = {**FLAGS, **TASK_FLAGS[task]}
    chosen = data.draw(st.lists(st.sampled_from(sorted(flags)), max_size=4, unique=True))
    argv = ["train", task, "--run", str(tmp / "run"), "--max-steps", "2", "--hidden-size", "8", "--batch-size", "4"]
    for flag in chosen:
        argv += [flag, str(data.draw(flags[flag]))]
    argv += ["--data", str(_broken_files(data.draw, tmp, task))]
    if task == "charlm" and "--seq-len" not in chosen:
        argv += ["--seq-len", "10"]
    out, err_buf = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err_buf):
        try:
            code = main(argv)
        except SystemExit as e:                                        # argparse's own exit
            code = e.code
    stderr = err_buf.getvalue()
    errors = [line for line in stderr.splitlines() if line.startswith(("rnnkit: error", "rnnkit train"))]
    assert code in (0, 2), (argv, code, stderr[-2000:])
    if code == 2:
        assert len(errors) == 1, (argv, stderr)
        run = tmp / "run"
        # never a half-written run: no folder, or one that resumes (config.json and weights)
        assert not run.exists() or ((run / "config.json").exists() and (run / "model.safetensors").exists()), \
            (argv, sorted(p.name for p in run.iterdir()))
    else:
        assert (tmp / "run" / "model.safetensors").exists()
        assert math.isfinite(float(out.getvalue().strip().splitlines()[-1].split()[-1]))
