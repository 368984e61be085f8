"""ONNX export: onnxruntime equals rnnkit for every cell, wrapper, Stack and task model (float64 to
1e-7: the exporter writes Python-number constants such as clip bounds and zoneout rates in float32;
float32 to 1e-5), at several batch sizes and lengths (mixed, zero-length, longer than anything
seen while exporting), with the state carried in and out; the step export generates what rnnkit
generates; files pass onnx.checker and carry their metadata."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import rnnkit as rk
from cases import ALL, build, inputs
from rnnkit.export import export_sequence, export_step
from rnnkit.models import LanguageModel, RecurrentConfig, SequenceModel
from rnnkit.state import leaves

SHAPES = [(3, 6, [6, 2, 0]), (1, 40, [40]), (5, 9, [9, 9, 1, 5, 3])]


def _random_state(module, B, dtype):
    torch.manual_seed(B)
    template = module.initial_state(B, dtype=dtype)
    flat = [torch.randn_like(t) for t in leaves(template)]
    it = iter(flat)
    return flat, rk.map_state(lambda _: next(it), template)


def _ort(path, x, lengths, flat):
    sess = ort.InferenceSession(str(path))
    return sess.run(None, {"x": x.numpy(), "lengths": lengths.numpy(),
                           **{f"state_{i}": t.numpy() for i, t in enumerate(flat)}})


@pytest.mark.parametrize("name", sorted(ALL))
def test_sequence_and_step_export_of_every_cell_equal_rnnkit(name, tmp_path):
    cell = build(name).eval()
    path = tmp_path / "seq.onnx"
    export_sequence(cell, path)
    for B, T, L in SHAPES:
        x, lengths = inputs(cell, B, T), torch.tensor(L)
        flat, state = _random_state(cell, B, torch.float64)
        y, s = rk.unroll(cell, x, lengths=lengths, initial_state=state)
        out = _ort(path, x, lengths, flat)
        np.testing.assert_allclose(out[0], y.detach().numpy(), rtol=1e-7, atol=1e-7)
        for got, want in zip(out[1:], leaves(s), strict=True):
            np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-7, atol=1e-7)
    export_step(cell, tmp_path / "step.onnx")                  # one step, dynamic batch
    sess = ort.InferenceSession(str(tmp_path / "step.onnx"))
    for B in (1, 4):
        x_t = inputs(cell, B, 1)[:, 0]
        flat, state = _random_state(cell, B, torch.float64)
        y, s = cell(x_t, state)
        out = sess.run(None, {"x_t": x_t.numpy(), **{f"state_{i}": t.numpy() for i, t in enumerate(flat)}})
        for got, want in zip(out, [y, *leaves(s)], strict=True):
            np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-7, atol=1e-7)


def _models():
    torch.manual_seed(0)
    return {
        "lm": LanguageModel(RecurrentConfig(cell="lstm", hidden_size=8, num_layers=2), vocab_size=9),
        "bi_gru_last": SequenceModel(RecurrentConfig(cell="gru", hidden_size=6, num_layers=2, bidirectional=True),
                                     input_size=2, output_size=4, readout="last"),
        "bi_lstm_tokens_last": SequenceModel(RecurrentConfig(cell="lstm", hidden_size=6, bidirectional=True,
                                                             layer_norm=True), vocab_size=7, output_size=3,
                                             readout="last"),
        "eunn_all": SequenceModel(RecurrentConfig(cell="eunn", hidden_size=4, capacity=3), input_size=2,
                                  output_size=1),
        "bidirectional_sum": SequenceModel(RecurrentConfig(cell="elman", hidden_size=5), input_size=2, output_size=2),
        **{f"bi_lstm_tokens_{pool}": SequenceModel(RecurrentConfig(cell="lstm", hidden_size=6, bidirectional=True),
                                                   vocab_size=7, output_size=3, readout=pool)
           for pool in ("mean", "max", "attention")},
        "gru_features_max": SequenceModel(RecurrentConfig(cell="gru", hidden_size=5, num_layers=2), input_size=2,
                                          output_size=2, readout="max"),
    }


@pytest.mark.parametrize("name", sorted(_models()))
def test_task_models_in_float32(name, tmp_path):
    model = _models()[name].eval()
    if name == "bidirectional_sum":
        model.runner.layers[0] = rk.Bidirectional(rk.ElmanCell(2, 5), rk.ElmanCell(2, 5), merge="sum")
        model.head = torch.nn.Linear(5, 2)
        model.eval()
    path = tmp_path / "m.onnx"
    export_sequence(model, path, metadata={"labels": "a,b"})
    assert {p.key: p.value for p in onnx.load(str(path)).metadata_props} == {"labels": "a,b"}
    for B, T, L in SHAPES:
        x = (torch.randint(0, model.embedding.num_embeddings, (B, T)) if model.embedding is not None
             else torch.randn(B, T, 2))
        lengths = torch.tensor(L)
        flat, state = _random_state(model, B, torch.float32)
        with torch.no_grad():
            y, s = model(x, lengths, state)
        out = _ort(path, x, lengths, flat)
        np.testing.assert_allclose(out[0], y.numpy(), rtol=1e-5, atol=1e-5)
        if s is not None:
            for got, want in zip(out[1:], leaves(s), strict=True):
                np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)


def test_step_export_generates_as_rnnkit(tmp_path):
    lm = _models()["lm"].eval()
    path = tmp_path / "step.onnx"
    export_step(lm, path)
    sess = ort.InferenceSession(str(path))
    for B in (1, 4):
        flat, state = _random_state(lm, B, torch.float32)
        token = torch.randint(0, 9, (B,))
        for _ in range(5):                                   # five steps, the state carried by each side
            with torch.no_grad():
                logits, state = lm(token[:, None], state=state)
            out = sess.run(None, {"x_t": token.numpy(), **{f"state_{i}": t.numpy() for i, t in enumerate(flat)}})
            np.testing.assert_allclose(out[0], logits[:, 0].numpy(), rtol=1e-5, atol=1e-5)
            flat = [torch.from_numpy(t) for t in out[1:]]
            token = logits[:, 0].argmax(-1)


def test_export_refuses_a_training_model(tmp_path):
    with pytest.raises(ValueError, match="eval mode"):
        export_sequence(rk.Dropout(rk.GRUCell(2, 3), input_p=0.5), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


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
    example = Path(__file__).parent.parent / "examples" / "onnx_runtime.py"
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


def test_bench_export_quick_measures_speed_and_the_int8_metric(tmp_path):
    import json

    from datasets import text_file
    from rnnkit.tools.bench import main as bench
    from rnnkit.cli import main

    run = tmp_path / "lm"
    assert main(["train", "charlm", "--data", str(text_file(tmp_path / "t.txt", n=60000)), "--hidden-size", "16",
                 "--max-steps", "20", "--batch-size", "4", "--seq-len", "20", "--run", str(run)]) == 0
    out = tmp_path / "export.json"
    assert bench(["--export", "--quick", "--run", str(run), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["generation"]["tokens_per_s"]) == {"rnnkit", "torch_nn_lstm", "onnxruntime", "onnxruntime_int8"}
    assert all(v > 0 for v in result["classification"]["sequences_per_s"].values())
    metric = result["task_metrics"][0]
    assert metric["task"] == "charlm" and abs(metric["onnxruntime"] - metric["rnnkit"]) < 1e-4
    assert 0 < metric["onnxruntime_int8"] < 10


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
