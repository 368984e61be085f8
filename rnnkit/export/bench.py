"""``rnnkit bench --export``: exported models in onnxruntime against rnnkit itself and torch.nn.

- generation at batch 1 with a 3×512 LSTM stack (embedding and head of a 96-symbol vocabulary around
  it): tokens/s stepping rnnkit, torch.nn.LSTM, the ONNX step in onnxruntime (float32), and the same
  file with int8 weights (onnxruntime's dynamic quantisation of the products);
- classification throughput: sequences/s of a bidirectional LSTM classifier over (32, 100) token
  batches, rnnkit against the ONNX sequence export, float32 and int8;
- with ``--run`` (a charlm or classify run folder): the task metric of the run in rnnkit, in the
  ONNX sequence export and in its int8 version, on the run's validation data (bits per character:
  64 streams of its first 64,000 characters, each from a zero state; accuracy: the validation set).

Timings are medians of interleaved rounds in one process, as ``rnnkit bench``.
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..runtime.checkpoint import atomic_write_bytes
from ..models import LanguageModel, RecurrentConfig, SequenceModel
from ..state import leaves
from ..tools.timing import interleaved
from .onnx import export_sequence, export_step

__all__ = ["main"]


def _quantized(path: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = path.with_name(path.stem + ".int8.onnx")
    quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8)
    return out


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return ort.InferenceSession(str(path), options)


def generation(folder: Path, rounds: int, tokens: int, H: int = 512, layers: int = 3, V: int = 96) -> dict:
    torch.manual_seed(0)
    lm = LanguageModel(RecurrentConfig(cell="lstm", hidden_size=H, num_layers=layers), vocab_size=V).eval()
    lstm = torch.nn.LSTM(64, H, num_layers=layers, batch_first=True).eval()
    step = folder / "step.onnx"
    export_step(lm, step)
    files = {"onnxruntime": step, "onnxruntime_int8": _quantized(step)}
    sessions = {k: _session(p) for k, p in files.items()}

    @torch.no_grad()
    def run_rnnkit():
        token, state = torch.zeros(1, 1, dtype=torch.long), None
        for _ in range(tokens):
            logits, state = lm(token, state=state)
            token = logits[:, -1].argmax(-1, keepdim=True)

    @torch.no_grad()
    def run_torch():
        token, hx = torch.zeros(1, 1, dtype=torch.long), None
        for _ in range(tokens):
            y, hx = lstm(lm.embedding(token), hx)
            token = lm.head(y[:, -1]).argmax(-1, keepdim=True)

    def runner(sess):
        def run():
            feed = {i.name: np.zeros((1, i.shape[1]), np.float32) for i in sess.get_inputs() if i.name != "x_t"}
            token = np.zeros(1, np.int64)
            names = [o.name for o in sess.get_outputs()]
            for _ in range(tokens):
                out = sess.run(None, {"x_t": token, **feed})
                token = out[0].argmax(-1)
                feed = {n.replace("_out", ""): v for n, v in zip(names[1:], out[1:])}
        return run

    impls = {"rnnkit": run_rnnkit, "torch_nn_lstm": run_torch, **{k: runner(s) for k, s in sessions.items()}}
    per_run = interleaved(impls, rounds)
    return {"layers": layers, "H": H, "vocab": V, "tokens": tokens,
            "tokens_per_s": {k: round(tokens / v, 1) for k, v in per_run.items()},
            "file_mb": {k: round(p.stat().st_size / 2 ** 20, 2) for k, p in files.items()}}


def classification(folder: Path, rounds: int, B: int = 32, T: int = 100, H: int = 128, V: int = 96) -> dict:
    torch.manual_seed(0)
    model = SequenceModel(RecurrentConfig(cell="lstm", hidden_size=H, bidirectional=True), vocab_size=V,
                          output_size=2, readout="last").eval()
    seq = folder / "classify.onnx"
    export_sequence(model, seq)
    sessions = {"onnxruntime": _session(seq), "onnxruntime_int8": _session(_quantized(seq))}
    x = torch.randint(0, V, (B, T))
    lengths = torch.randint(T // 2, T + 1, (B,))
    state = [np.zeros((B, t.shape[1]), np.float32) for t in leaves(model.initial_state(1))]
    feed = {"x": x.numpy(), "lengths": lengths.numpy(), **{f"state_{i}": s for i, s in enumerate(state)}}

    @torch.no_grad()
    def run_rnnkit():
        model(x, lengths)

    impls = {"rnnkit": run_rnnkit, **{k: (lambda s=s: s.run(None, feed)) for k, s in sessions.items()}}
    per_run = interleaved(impls, rounds)
    return {"B": B, "T": T, "H": H, "bidirectional": True,
            "sequences_per_s": {k: round(B / v, 1) for k, v in per_run.items()}}


def task_metric(run: Path, folder: Path) -> dict:
    """The run's own metric in rnnkit, in the ONNX sequence export and in its int8 version."""
    from ..runs import open_run

    task, model = open_run(run)
    model = model.float().eval()
    seq = folder / "run.onnx"
    export_sequence(model, seq)
    sessions = {"onnxruntime": _session(seq), "onnxruntime_int8": _session(_quantized(seq))}
    task.load_eval_data(None)
    if task.name == "charlm":
        n = len(task.valid_ids)
        streams = max(1, min(64, n // 1001))
        span = min(1001, n // streams)
        ids = torch.as_tensor(np.asarray(task.valid_ids[:streams * span], dtype=np.int64)).view(streams, span)
        x, y = ids[:, :-1], ids[:, 1:]
        lengths = torch.full((streams,), span - 1)

        def bits(logits: torch.Tensor) -> float:
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item() / math.log(2)
        with torch.no_grad():
            scores = {"rnnkit": bits(model(x)[0])}
        state = {f"state_{i}": np.zeros((streams, t.shape[1]), np.float32)
                 for i, t in enumerate(leaves(model.initial_state(1)))}
        for k, s in sessions.items():
            scores[k] = bits(torch.from_numpy(s.run(None, {"x": x.numpy(), "lengths": lengths.numpy(), **state})[0]))
        return {"task": "charlm", "metric": f"bits per character ({streams} x {span - 1} validation characters, "
                                            "each stream from a zero state)", **scores}
    if task.name == "classify":
        from ..data.padding import pad_sequences
        x, lengths = pad_sequences(task.valid_x)
        y = task.valid_y
        with torch.no_grad():
            scores = {"rnnkit": (model(x, lengths)[0].argmax(-1) == y).float().mean().item()}
        state = {f"state_{i}": np.zeros((len(y), t.shape[1]), np.float32)
                 for i, t in enumerate(leaves(model.initial_state(1)))}
        for k, s in sessions.items():
            out = s.run(None, {"x": x.numpy(), "lengths": lengths.numpy(), **state})[0]
            scores[k] = float((out.argmax(-1) == y.numpy()).mean())
        return {"task": "classify", "metric": "validation accuracy", **scores}
    raise ValueError(f"expected a charlm or classify run for --run; received a {task.name} run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rnnkit bench --export", description=__doc__.split("\n")[0])
    parser.add_argument("--export", action="store_true", help="(this benchmark)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=200, help="generated tokens per round")
    parser.add_argument("--run", action="append", default=[], help="a charlm or classify run: its metric in int8")
    parser.add_argument("--quick", action="store_true", help="small sizes and 2 rounds: a smoke run")
    parser.add_argument("--out", default="benchmarks/export.json")
    args = parser.parse_args(argv)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.quick:
            result["generation"] = generation(folder, 2, 10, H=32, layers=2)
            result["classification"] = classification(folder, 2, B=4, T=10, H=16)
        else:
            result["generation"] = generation(folder, args.rounds, args.tokens)
            result["classification"] = classification(folder, args.rounds)
        result["task_metrics"] = [task_metric(Path(r), folder) for r in args.run]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(args.out), (json.dumps(result, indent=2) + "\n").encode())
    print(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0
