"""ONNX export: onnxruntime equals rnnkit for every cell, wrapper, Stack and task model (float64 to
1e-7: the exporter writes Python-number constants such as clip bounds and zoneout rates in float32;
float32 to 1e-5), at several batch sizes and lengths (mixed, zero-length, longer than anything
seen while exporting), with the state carried in and out; the step export generates what rnnkit
generates; files pass onnx.checker and carry their metadata; the writer leaves nothing behind on a full disk."""

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
from faults import unchanged_after_a_full_disk

pytestmark = pytest.mark.slow

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


# ------------------------------------------------------------------------------ a full disk




def test_onnx_writer(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    import rnnkit as rk
    from rnnkit.export.onnx import export_step

    onnx_file = tmp_path / "gru.onnx"
    unchanged_after_a_full_disk(onnx_file, lambda: export_step(rk.GRUCell(3, 4).eval(), onnx_file), monkeypatch)
