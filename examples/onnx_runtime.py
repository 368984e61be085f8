"""Use an exported rnnkit run with onnxruntime and numpy alone (no rnnkit, no torch import).

    rnnkit export RUN --what step --out lm.onnx          # a charlm run
    python examples/onnx_runtime.py generate lm.onnx --prime "The king" --length 200
    rnnkit export RUN --out clf.onnx                     # a classify run (text)
    python examples/onnx_runtime.py classify clf.onnx "what a lovely day"

The vocabulary, labels and settings come from the file's metadata (``rnnkit_meta``,
``rnnkit_task_config``), written by ``rnnkit export``.
"""
from __future__ import annotations

import argparse
import json
import re

import numpy as np
import onnxruntime as ort


def _session(path: str):
    sess = ort.InferenceSession(path)
    meta = sess.get_modelmeta().custom_metadata_map
    return sess, json.loads(meta["rnnkit_meta"]), json.loads(meta.get("rnnkit_task_config", "{}"))


def _zero_state(sess, batch: int) -> dict:
    return {i.name: np.zeros((batch, i.shape[1]), dtype=np.float32) for i in sess.get_inputs()
            if i.name.startswith("state_")}


def generate(path: str, prime: str, length: int, temperature: float, seed: int) -> str:
    """Sample ``length`` symbols after ``prime`` from a charlm step export, carrying the state."""
    sess, meta, _ = _session(path)
    vocab = meta["vocab"]
    index = {s: i for i, s in enumerate(vocab)}
    byte = meta.get("level") == "byte"
    tokens = list(prime.encode("utf-8")) if byte else list(prime)
    state = _zero_state(sess, 1)
    names = [o.name for o in sess.get_outputs()]
    rng = np.random.default_rng(seed)
    out = []
    logits = None
    for token in tokens + [None] * length:
        if token is None:                                   # the next symbol: sampled, or the likeliest at 0
            if temperature > 0:
                p = np.exp((logits - logits.max()) / temperature)
                token_id = int(rng.choice(len(p), p=p / p.sum()))
            else:
                token_id = int(logits.argmax())
            out.append(vocab[token_id])
        else:
            token_id = index[token]
        results = sess.run(None, {"x_t": np.array([token_id], dtype=np.int64), **state})
        logits = results[0][0]
        state = {name.replace("_out", ""): value for name, value in zip(names[1:], results[1:])}
    return bytes(out).decode("utf-8", "replace") if byte else "".join(out)


def classify(path: str, text: str) -> str:
    """The label and probabilities of a text from a classify sequence export."""
    sess, meta, cfg = _session(path)
    if cfg.get("lowercase"):
        text = text.lower()
    tokens = re.findall(r"\w+|[^\w\s]", text) if cfg.get("tokens") == "word" else list(text)
    if cfg.get("max_len"):
        tokens = tokens[: cfg["max_len"]]
    index = {s: i for i, s in enumerate(meta["vocab"])}
    ids = [index.get(t, index["<unk>"]) for t in tokens] or [index["<pad>"]]
    x = np.array([ids], dtype=np.int64)
    logits = sess.run(None, {"x": x, "lengths": np.array([len(ids)], dtype=np.int64), **_zero_state(sess, 1)})[0][0]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    labels = meta["labels"]
    return f"{labels[int(p.argmax())]}\t" + " ".join(f"{l}={v:.3f}" for l, v in zip(labels, p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("model")
    g.add_argument("--prime", default="The ")
    g.add_argument("--length", type=int, default=200)
    g.add_argument("--temperature", type=float, default=0.8, help="0: always the likeliest symbol")
    g.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("classify")
    c.add_argument("model")
    c.add_argument("text")
    args = parser.parse_args()
    if args.command == "generate":
        print(args.prime + generate(args.model, args.prime, args.length, args.temperature, args.seed))
    else:
        print(classify(args.model, args.text))


if __name__ == "__main__":
    main()
