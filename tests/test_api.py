"""The Python API: ``rnnkit.fit`` writes the run folder ``rnnkit train`` writes (bit for bit), data in memory
trains as the same data in a file, and a ``Run`` predicts, evaluates, generates, exports, pickles and reloads;
every mistake is one ``UserError`` line."""
import csv
import json
import pickle
import runpy
from pathlib import Path

import numpy as np
import pytest

import rnnkit
from datasets import sentiment_csv, text_file, ts_file
from rnnkit.cli import main
from rnnkit.data.series_files import read_series, write_ts
from rnnkit.data.text import read_labelled
from rnnkit.errors import UserError

pytestmark = pytest.mark.slow

TINY = {"hidden_size": 4, "max_steps": 6, "eval_every": 3, "seed": 3, "device": "cpu"}
TINY_FLAGS = ["--hidden-size", "4", "--max-steps", "6", "--eval-every", "3", "--seed", "3", "--device", "cpu"]


def fit(data, task="classify", **options):
    return rnnkit.fit(task, data=data, verbose=False, **{**TINY, **options})


def weights(run_dir: Path) -> bytes:
    return (Path(run_dir) / "model.safetensors").read_bytes()


def metrics_rows(run_dir: Path) -> list[dict]:
    """metrics.csv without its clock column."""
    with open(Path(run_dir) / "metrics.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in csv.DictReader(f)]


@pytest.mark.parametrize("make,extra", [(ts_file, ["--model", "rnn"]), (sentiment_csv, ["--tokens", "char"])],
                         ids=["series", "text"])
def test_fit_writes_the_run_folder_of_the_command_line(tmp_path, capsys, make, extra):
    data = make(tmp_path / ("d.ts" if make is ts_file else "d.csv"))
    assert main(["train", "classify", "--data", str(data), "--run", str(tmp_path / "cli"), *TINY_FLAGS, *extra]) == 0
    options = {extra[0][2:].replace("-", "_"): extra[1]}
    run = rnnkit.fit("classify", data=str(data), run_dir=tmp_path / "api", verbose=False, **TINY, **options)
    assert weights(tmp_path / "api") == weights(tmp_path / "cli")
    for name in ("checkpoint/model.safetensors", "checkpoint/optimizer.safetensors"):
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    config = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert run.config == config == json.loads((tmp_path / "api" / "config.json").read_text())   # no run path in it
    assert metrics_rows(tmp_path / "api") == metrics_rows(tmp_path / "cli")
    assert run.run_dir == tmp_path / "api" and run.metrics["valid"].keys() == {"accuracy", "macro_f1", "loss"}


def _series(n=40, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(int(rng.integers(5, 12)), 2)).astype(np.float32) for _ in range(n)]
    xs[3][2, 1] = np.nan                                          # a missing value, as "?" in a file
    return xs


def test_series_in_memory_train_as_the_same_series_in_a_file(tmp_path):
    xs = _series()
    labels = np.array([7, 3] * 20)                                # ints: predictions give ints back
    write_ts(tmp_path / "same.ts", xs, labels.tolist())
    from_file = fit(str(tmp_path / "same.ts"), run_dir=tmp_path / "file", model="rnn")
    in_memory = fit((xs, labels), run_dir=tmp_path / "memory", model="rnn")
    assert weights(tmp_path / "memory") == weights(tmp_path / "file")
    record = in_memory.config["in_memory"]
    assert record["kind"] == "series" and record["examples"] == 40 and record["labels"] == [["3", 3], ["7", 7]]
    for a, b in zip(read_series(record["data"])[0], read_series(tmp_path / "same.ts")[0], strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())              # NaN where NaN was
    predicted = in_memory.predict(xs[:6])
    assert set(predicted) <= {3, 7} and all(type(p) is int for p in predicted)
    assert from_file.predict(xs[:6]) == [str(p) for p in predicted]
    # a 3D array (N, D, T) and the list of its (T, D) series are one data set
    cube = np.stack([s[:5] for s in xs]).transpose(0, 2, 1)
    np.testing.assert_array_equal(in_memory.predict_proba(cube), in_memory.predict_proba([s[:5] for s in xs]))


def test_texts_and_targets_in_memory_train_as_files(tmp_path):
    pairs = read_labelled(sentiment_csv(tmp_path / "s.csv", n=60))
    texts, labels = [t for t, _ in pairs], [l for _, l in pairs]
    a = fit(str(tmp_path / "s.csv"), run_dir=tmp_path / "file", tokens="char")
    b = fit((texts, labels), run_dir=tmp_path / "memory", tokens="char")
    assert weights(tmp_path / "memory") == weights(tmp_path / "file")
    assert b.predict("the film was great") in ("neg", "pos") and b.predict(texts[:3]) == a.predict(texts[:3])
    # labels that no file could hold as they are (spaces, mixed types) are numbered in the file, returned as given
    odd = fit((texts, [("a b" if l == "pos" else 1.5) for l in labels]), run_dir=tmp_path / "odd", tokens="char")
    assert sorted(map(str, odd.classes)) == ["1.5", "a b"] and set(odd.predict(texts)) <= {1.5, "a b"}
    # regression targets: written exactly (repr), read back to the same floats
    xs, y = _series(), np.linspace(-2.0, 3.0, 40) ** 3
    tsv = "".join(f"{repr(float(t))}\t" + "\t".join(repr(float(v)) for v in s[:, 0]) + "\n"
                  for s, t in zip(xs, y) if not np.isnan(s[:, 0]).any())
    kept = [i for i, s in enumerate(xs) if not np.isnan(s[:, 0]).any()]
    (tmp_path / "r.tsv").write_text(tsv)
    fit(str(tmp_path / "r.tsv"), "regress", run_dir=tmp_path / "rfile", model="rnn")
    r = fit(([xs[i][:, :1] for i in kept], y[kept]), "regress", run_dir=tmp_path / "rmemory", model="rnn")
    assert weights(tmp_path / "rmemory") == weights(tmp_path / "rfile")
    assert r.predict([xs[0][:, :1]]).dtype == np.float64 and set(r.metrics["valid"]) == {"mse", "mae", "r2", "loss"}


def test_a_run_evaluates_pickles_reloads_and_exports(tmp_path):
    xs, labels = _series(), ["up", "down"] * 20
    run = fit((xs, labels), model="rnn", max_steps=8, eval_every=8)         # a temporary run folder
    folder = run.run_dir
    assert folder.is_dir() and (folder / "data" / "train.ts").is_file()
    assert run.evaluate() == pytest.approx(run.metrics["valid"])             # the run's own validation data
    assert run.evaluate((xs, labels)) == run.evaluate(str(folder / "data" / "train.ts"))
    proba = run.predict_proba(xs)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    assert (rnnkit.load(folder).predict_proba(xs) == proba).all()
    again = pickle.loads(pickle.dumps(run))                                   # weights and config, no folder
    assert again.run_dir is None and (again.predict_proba(xs) == proba).all() and again.metrics == run.metrics
    onnx = run.export(tmp_path / "m.onnx")
    assert onnx.stat().st_size > 0
    run.close()                                                               # the temporary folder goes now
    assert not folder.exists() and run.predict(xs[:2]) == again.predict(xs[:2])


def test_generate_is_the_command_lines_text(tmp_path, capsys):
    text = text_file(tmp_path / "t.txt").read_text()
    run = fit([text[:1000], text[1000:]], "charlm", run_dir=tmp_path / "lm", seq_len=20, batch_size=8)
    assert Path(run.config["in_memory"]["data"]).read_text() == text
    assert run.config["in_memory"]["data"].endswith("train.txt")
    sample = run.generate("the ", 40, temperature=0.8, seed=5)
    capsys.readouterr()
    assert main(["generate", str(tmp_path / "lm"), "--prime", "the ", "--length", "40", "--temperature", "0.8",
                 "--seed", "5"]) == 0
    assert capsys.readouterr().out == "the " + sample + "\n"


def test_seq2seq_and_forecast_take_data_in_memory(tmp_path):
    pairs = [("3 1 2", "1 2 3"), ("2 1", "1 2"), ("1 3", "1 3"), ("3 2 1", "1 2 3")] * 5
    run = fit(pairs, "seq2seq", run_dir=tmp_path / "s2s")
    assert all(t.isdigit() for t in " ".join(run.predict("2 3 1")).split())
    series = np.sin(np.arange(200) / 4.0)
    (tmp_path / "f.csv").write_text("value\n" + "".join(f"{float(v)!r}\n" for v in series))
    fit(str(tmp_path / "f.csv"), "forecast", run_dir=tmp_path / "ffile", window=8)
    run = fit(series, "forecast", run_dir=tmp_path / "fmemory", window=8)
    assert weights(tmp_path / "fmemory") == weights(tmp_path / "ffile")
    assert run.predict(series[:8])[0].startswith("value=")


def one_line(error: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(error.value)
    assert "\n" not in message and all(p in message for p in parts), message


def test_mistakes_are_one_line_user_errors(tmp_path):
    xs, labels = _series(), ["a", "b"] * 20
    with pytest.raises(UserError) as e:
        rnnkit.fit("classify", data=(xs, labels), hiden_size=4)
    one_line(e, "unknown: 'hiden_size' (close: hidden_size")
    with pytest.raises(UserError) as e:
        rnnkit.fit("classify", data=(xs, labels), steps=4)
    one_line(e, "'steps'", "max_steps")
    with pytest.raises(UserError) as e:
        rnnkit.fit("clasify", data=(xs, labels))
    one_line(e, "expected a task", "'clasify'")
    with pytest.raises(UserError) as e:
        fit((xs, labels[:-1]), run_dir=tmp_path / "short")
    one_line(e, "40 examples and 39 labels")
    assert not (tmp_path / "short").exists()                  # a failed start leaves no folder behind
    with pytest.raises(UserError) as e:
        fit((np.zeros((4, 3, 2, 1)), [0, 1, 0, 1]))
    one_line(e, "shape (4, 3, 2, 1)")
    with pytest.raises(UserError) as e:
        fit(([np.array([1.0, np.inf])] * 4, [0, 1, 0, 1]))
    one_line(e, "infinity")
    with pytest.raises(UserError) as e:
        fit(([s[:, 0] for s in xs], [np.nan] + [1.0] * 39), "regress")
    one_line(e, "finite targets")
    with pytest.raises(UserError) as e:
        fit((xs, [[0, 1]] * 40))
    one_line(e, "hashable labels")
    with pytest.raises(UserError) as e:
        fit((xs, labels), hidden_size=0)
    one_line(e, "--hidden-size must be")
    with pytest.raises(UserError) as e:
        rnnkit.fit("classify", data=(xs, labels), resume=True)
    one_line(e, "expected run_dir with resume=True")
    run = fit((xs, labels), run_dir=tmp_path / "run", model="rnn")
    before = weights(tmp_path / "run")
    with pytest.raises(UserError) as e:
        fit((xs, labels), run_dir=tmp_path / "run")
    one_line(e, "already holds a run")
    assert weights(tmp_path / "run") == before
    for call, words in ((lambda: run.generate("a"), "generates text"), (lambda: run.predict(["some text"]), "series"),
                        (lambda: run.evaluate((xs, ["a", "z"] * 20)), "never seen: ['z']")):
        with pytest.raises(UserError) as e:
            call()
        one_line(e, words)


@pytest.mark.slow
def test_the_example_script_runs(tmp_path, capsys):
    example = runpy.run_path(str(Path(__file__).parent.parent / "examples" / "python_api.py"))
    example["main"](tmp_path)
    out = capsys.readouterr().out
    assert "cross-validated accuracy" in out and (tmp_path / "updown.onnx").is_file()
