"""rnnkit.export.run: `rnnkit export` of a run folder, the ONNX Runtime example, and the exports it refuses."""
import onnx
import pytest
import torch

pytestmark = pytest.mark.slow


def test_cli_export_and_the_onnxruntime_example_use_the_run_alone(tmp_path, capsys):
    """`rnnkit export` writes step and sequence files whose metadata carry the vocabulary and labels;
    examples/onnx_runtime.py generates and classifies from them with no rnnkit import, as rnnkit does."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from datasets import sentiment_csv, text_file
    from rnnkit.cli import main
    from rnnkit.runs import open_run

    lm_run, clf_run = tmp_path / "lm", tmp_path / "clf"
    assert main(["train", "charlm", "--data", str(text_file(tmp_path / "t.txt")), "--hidden-size", "16",
                 "--max-steps", "5", "--batch-size", "4", "--seq-len", "20", "--run", str(lm_run)]) == 0
    assert main(["train", "classify", "--data", str(sentiment_csv(tmp_path / "s.csv")), "--hidden-size", "8",
                 "--max-steps", "5", "--run", str(clf_run)]) == 0
    assert main(["export", str(lm_run), "--what", "step", "--out", str(tmp_path / "lm.onnx")]) == 0
    assert main(["export", str(clf_run), "--out", str(tmp_path / "clf.onnx")]) == 0
    assert main(["export", str(lm_run), "--what", "step", "--format", "torch", "--out", str(tmp_path / "lm.pt2")]) == 0
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "clf.onnx")).metadata_props}
    assert json.loads(meta["rnnkit_meta"])["labels"] == json.loads((clf_run / "config.json").read_text())["meta"]["labels"]
    capsys.readouterr()

    prime = (tmp_path / "t.txt").read_text()[:3]
    example = Path(__file__).parents[2] / "examples" / "onnx_runtime.py"
    code = ("import sys, runpy; sys.modules['rnnkit'] = None; sys.modules['torch'] = None; "   # importing either fails
            f"sys.argv = sys.argv[1:]; runpy.run_path({str(example)!r}, run_name='__main__')")
    generated = subprocess.run([sys.executable, "-c", code, "x", "generate", str(tmp_path / "lm.onnx"), "--prime", prime,
                                "--length", "30", "--temperature", "0"], capture_output=True, text=True, timeout=120)
    assert generated.returncode == 0, generated.stderr[-1000:]
    task, lm = open_run(lm_run)
    greedy = "".join(task.vocab.decode(list(lm.generate(torch.tensor(task.encode(prime)), 30, top_k=1))))
    assert generated.stdout.rstrip("\n") == prime + greedy     # the same greedy text
    label = subprocess.run([sys.executable, "-c", code, "x", "classify", str(tmp_path / "clf.onnx"), "a lovely day"],
                           capture_output=True, text=True, timeout=120)
    assert label.returncode == 0, label.stderr[-1000:]
    assert main(["predict", str(clf_run), "a lovely day"]) == 0
    want = capsys.readouterr().out.strip().split("\t")[0]
    assert label.stdout.split("\t")[0] == want


def test_cli_export_without_onnx_installed_says_so_in_one_line(tmp_path, capsys, monkeypatch):
    import importlib.util

    from rnnkit.cli import main
    run = tmp_path / "m"
    assert main(["train", "memory", "--cell", "gru", "--hidden-size", "4", "--lag", "5", "--max-steps", "2",
                 "--run", str(run)]) == 0
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(tmp_path / "m.onnx")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "rnnkit: error: expected the packages onnx and onnxscript for --format onnx (pip install onnx onnxscript); "
        "missing: onnxscript"]


def test_lstm_fcn_is_refused_in_one_line_for_every_export(tmp_path, capsys):
    """Its convolutional branch reads the whole series: no one-step export, no sequence export of the runner alone."""
    from datasets import ts_file
    from rnnkit.cli import main
    run = tmp_path / "r"
    assert main(["train", "classify", "--data", str(ts_file(tmp_path / "s.ts")), "--run", str(run), "--max-steps", "2",
                 "--eval-every", "2", "--model", "lstm-fcn", "--filters", "4,4,4"]) == 0
    capsys.readouterr()
    for what in ("sequence", "step"):
        assert main(["export", str(run), "--what", what, "--out", str(tmp_path / f"{what}.onnx")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "convolutional branch over the whole sequence (LSTM-FCN)" in err[0]
        assert not (tmp_path / f"{what}.onnx").exists()
