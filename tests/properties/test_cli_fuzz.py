"""Any flags, any files: `rnnkit train` exits 0 or 2 with one line and never leaves a half-written run
(property-based, hypothesis)."""
import contextlib
import io
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from datasets import sentiment_csv, series_csv, text_file
from rnnkit.cli import main

pytestmark = pytest.mark.slow


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
