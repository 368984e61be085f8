"""ONNX export of a cell or a task model: one step, or the whole sequence with dynamic batch and time.

- ``export_step``: ``(x_t, state...) -> (y_t, state'...)``, one time step with the task's head
  (token ids -> logits for a language model), dynamic batch: what generation and streaming need.
- ``export_sequence``: ``(x, lengths, state...) -> (outputs, state'...)`` with dynamic batch **and**
  time, the masking model of DESIGN.md intact: past a sequence's length the state passes through
  unchanged and the output is zero; a reversed run (the backward half of ``Bidirectional``) reads each
  sequence backwards inside its own length. Each recurrent layer is an ONNX ``Loop`` whose body is
  that layer's cell step, as traced by ``torch.onnx.export`` (so every cell, wrapper and ``Stack``
  exports, a user's own cell too, with the exact maths rnnkit runs); the embedding, the merge of two
  directions, the many-to-one readout and the head are plain ONNX operators around the loops.

The state is flattened to its leaves (``state_0``, ``state_1``, ...: for an LSTM layer h then c) in the
order of ``rnnkit.state.leaves(model.initial_state(B))``. Models must be in eval mode (dropout off).

>>> import rnnkit as rk, onnxruntime as ort
>>> path = __import__("tempfile").mkdtemp() + "/gru.onnx"
>>> _ = export_sequence(rk.GRUCell(3, 4).eval(), path)
>>> sess = ort.InferenceSession(path)
>>> x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 2])
>>> y, h = sess.run(None, {"x": x.numpy(), "lengths": lengths.numpy(), "state_0": torch.zeros(2, 4).numpy()})
>>> y.shape, h.shape
((2, 5, 4), (2, 4))
"""
from __future__ import annotations

import contextlib
import io
import itertools
import logging
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from ..runtime.checkpoint import atomic_write_bytes
from ..models import POOLS
from ..runners import Bidirectional, RNN
from ..state import leaves
from .step import Step, check_eval, example, input_size, layers_of, parts, takes_tokens

__all__ = ["export_step", "export_sequence"]


def _trace(step: nn.Module, example: tuple[Tensor, ...]) -> "onnx.ModelProto":  # noqa: F821
    """``torch.onnx.export`` of ``step(x_t, *state)`` with a dynamic batch, quietly, as an ONNX model."""
    import onnx

    batch = torch.export.Dim("batch", min=1)
    n = len(example) - 1
    sink = io.StringIO()
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        quiet.setLevel(logging.ERROR)
        try:
            program = torch.onnx.export(step, example, dynamo=True, verbose=False, optimize=True,
                                        dynamic_shapes=({0: batch}, tuple({0: batch} for _ in range(n))),
                                        input_names=["x_t", *[f"state_{i}" for i in range(n)]],
                                        output_names=["y_t", *[f"state_{i}_out" for i in range(n)]])
        finally:
            quiet.setLevel(level)
    return onnx.load_from_string(program.model_proto.SerializeToString())


def _save(model: "onnx.ModelProto", path: Path | str, metadata: dict | None) -> "onnx.ModelProto":  # noqa: F821
    import onnx

    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    buf = io.BytesIO()
    onnx.save(model, buf)
    atomic_write_bytes(Path(path), buf.getvalue())            # never a half-written file at ``path``
    return model


def export_step(module: nn.Module, path: Path | str, *, metadata: dict | None = None) -> "onnx.ModelProto":  # noqa: F821
    """One time step: inputs ``x_t`` (B,) ids or (B, D) and ``state_i``; outputs ``y_t`` (the head's
    logits for a task model) and ``state_i_out``. ``metadata`` (str -> str) goes into the file."""
    check_eval(module)
    runner, _ = parts(module)
    model = _trace(Step(module, head=True), example(module, runner))
    return _save(model, path, metadata)


class _Builder:
    """Nodes, initializers and fresh value names of the graph being assembled."""

    def __init__(self):
        self.nodes, self.initializers, self._ids = [], [], itertools.count()

    def name(self, hint: str) -> str:
        return f"{hint}_{next(self._ids)}"

    def const(self, value, hint: str = "c") -> str:
        from onnx import numpy_helper
        import numpy as np

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str = "v", n_out: int = 1, **attrs) -> str | list[str]:
        from onnx import helper

        outs = [self.name(hint) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, **attrs))
        return outs[0] if n_out == 1 else outs


def _time_grid(b: _Builder, x: str, lengths: str) -> tuple[str, str]:
    """The steps ``t`` (1, T) of ``x`` (B, T, ...) and the ``lengths`` as a column (B, 1), int64."""
    T = b.op("Gather", [b.op("Shape", [x]), b.const(1)])
    t = b.op("Unsqueeze", [b.op("Range", [b.const(0), T, b.const(1)]), b.const([0])])          # (1, T)
    return t, b.op("Unsqueeze", [lengths, b.const([1])])                                             # (B, 1)


def _reverse_index(b: _Builder, x: str, lengths: str) -> str:
    """(B, T) int64 indices reversing each sequence inside its length (``sequence.reverse_padded``)."""
    t, L = _time_grid(b, x, lengths)
    back = b.op("Sub", [b.op("Sub", [L, b.const(1)]), t])
    return b.op("Where", [b.op("Less", [t, L]), back, t])                                            # (B, T)


def _gather_time(b: _Builder, x: str, index: str, rank: int) -> str:
    """``x`` (B, T[, D]) gathered along time by ``index`` (B, T)."""
    if rank == 2:
        return b.op("GatherElements", [x, index], axis=1)
    full = b.op("Expand", [b.op("Unsqueeze", [index, b.const([2])]), b.op("Shape", [x])])
    return b.op("GatherElements", [x, full], axis=1)


def _loop(b: _Builder, step: "onnx.ModelProto", x: str, lengths: str, states: list[str], dtype_code: int,  # noqa: F821
          out_size: int) -> tuple[str, list[str]]:
    """One recurrent layer as an ONNX Loop over time whose body is ``step``'s graph; returns the outputs
    (B, T, O) (zero past each length) and the final states."""
    from onnx import TensorProto, helper

    prefix = b.name("step") + "/"
    g = step.graph
    inits = {i.name for i in g.initializer}
    for init in g.initializer:                       # weights live in the outer graph, read from the body
        init.name = prefix + init.name
        b.initializers.append(init)
    n = len(states)
    rename = {"x_t": "x_t", **{f"state_{i}": f"{prefix}s{i}_in" for i in range(n)}}

    def renamed(name: str) -> str:
        if not name:
            return name
        if name not in rename:
            rename[name] = prefix + name
        return rename[name]

    body_nodes = [helper.make_node("Gather", [x, f"{prefix}t"], [f"{prefix}x_t"], axis=1)]
    rename["x_t"] = f"{prefix}x_t"
    for node in g.node:
        copy = helper.make_node(node.op_type, [], [], domain=node.domain)
        copy.CopyFrom(node)
        del copy.input[:]
        del copy.output[:]
        copy.input.extend(renamed(i) if i not in inits else prefix + i for i in node.input)
        copy.output.extend(renamed(o) for o in node.output)
        copy.name = prefix + node.name if node.name else ""
        body_nodes.append(copy)
    live = f"{prefix}live"
    body_nodes += [
        helper.make_node("Less", [f"{prefix}t", lengths], [f"{prefix}live1"]),
        helper.make_node("Unsqueeze", [f"{prefix}live1", b.const([1])], [live]),
        helper.make_node("Cast", [live], [f"{prefix}livef"], to=dtype_code),
        helper.make_node("Mul", [renamed("y_t"), f"{prefix}livef"], [f"{prefix}y_out"]),
        helper.make_node("Identity", [f"{prefix}cond"], [f"{prefix}cond_out"]),
    ]
    for i in range(n):
        body_nodes.append(helper.make_node("Where", [live, renamed(f"state_{i}_out"), f"{prefix}s{i}_in"],
                                           [f"{prefix}s{i}_out"]))
    value = lambda name, elem, shape: helper.make_tensor_value_info(name, elem, shape)  # noqa: E731
    body = helper.make_graph(
        body_nodes, b.name("body"),
        [value(f"{prefix}t", TensorProto.INT64, []), value(f"{prefix}cond", TensorProto.BOOL, []),
         *[value(f"{prefix}s{i}_in", dtype_code, ["batch", None]) for i in range(n)]],
        [value(f"{prefix}cond_out", TensorProto.BOOL, []),
         *[value(f"{prefix}s{i}_out", dtype_code, ["batch", None]) for i in range(n)],
         value(f"{prefix}y_out", dtype_code, ["batch", out_size])])
    T = b.op("Gather", [b.op("Shape", [x]), b.const(1)])
    outs = b.op("Loop", [T, "", *states], hint="loop", n_out=n + 1, body=body)
    finals, ys = outs[:n], outs[n]                                             # ys: (T, B, O)
    return b.op("Transpose", [ys], perm=[1, 0, 2]), finals


def export_sequence(module: nn.Module, path: Path | str, *, metadata: dict | None = None) -> "onnx.ModelProto":  # noqa: F821
    """The whole sequence: inputs ``x`` (B, T) ids or (B, T, D), ``lengths`` (B,) int64 and ``state_i``;
    outputs ``y`` ((B, T, O), or (B, O) for a model reading the last step) and ``state_i_out``."""
    from onnx import TensorProto, helper

    check_eval(module, whole_sequence=True)
    runner, model = parts(module)
    dtype = next(module.parameters()).dtype
    dtype_code = {torch.float32: TensorProto.FLOAT, torch.float64: TensorProto.DOUBLE}[dtype]
    b = _Builder()
    x, lengths = "x", "lengths"
    tokens = takes_tokens(module)
    h = x
    if model is not None and model.embedding is not None:                       # the embedding outside the loop
        h = b.op("Gather", [b.const(model.embedding.weight.detach().cpu().numpy()), x], axis=0)
    layers = layers_of(runner)
    template = runner.initial_state(1)
    n_leaves = len(leaves(template))
    state_in = [f"state_{i}" for i in range(n_leaves)]
    finals: list[str] = []
    offset = 0
    rank = 2 if tokens and model is None else 3
    last = None
    for layer in layers:
        if isinstance(layer, Bidirectional):
            directions = [(layer.fw, False), (layer.bw, True)]
        elif isinstance(layer, RNN):
            directions = [(layer.cell, layer.reverse)]
        else:
            directions = [(layer, False)]
        outs = []
        for cell, reverse in directions:
            k = len(leaves(cell.initial_state(1)))
            step = _trace(Step(cell, head=False), example(cell, cell))
            source = h
            if reverse:                               # the same (B, T) index reverses inputs and outputs
                index = _reverse_index(b, source, lengths)
                source = _gather_time(b, source, index, rank)
            y, fin = _loop(b, step, source, lengths, state_in[offset:offset + k], dtype_code, cell.output_size)
            if reverse:
                y = _gather_time(b, y, index, 3)
            outs.append(y)
            finals += fin
            offset += k
        if len(outs) == 2:
            h_next, last = _merge(b, layer.merge, *outs), outs
        else:
            h_next, last = outs[0], None
        h, rank = h_next, 3
    out = h
    if model is not None:
        if model.readout == "last":
            out = _last(b, out, lengths, last, layers[-1])
        elif model.readout in POOLS:
            out = _pool(b, out, lengths, model)
        W = model.head.weight.detach().cpu().numpy().T.copy()
        out = b.op("MatMul", [out, b.const(W, "head_w")])
        if model.head.bias is not None:
            out = b.op("Add", [out, b.const(model.head.bias.detach().cpu().numpy(), "head_b")])
    nodes = b.nodes + [helper.make_node("Identity", [out], ["y"])]
    nodes += [helper.make_node("Identity", [f], [f"state_{i}_out"]) for i, f in enumerate(finals)]
    x_type = TensorProto.INT64 if tokens else dtype_code
    x_shape = ["batch", "time"] + ([] if tokens else [input_size(module)])
    inputs = [helper.make_tensor_value_info("x", x_type, x_shape),
              helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])]
    inputs += [helper.make_tensor_value_info(s, dtype_code, ["batch", t.shape[-1]])
               for s, t in zip(state_in, leaves(template))]
    y_shape = ["batch"] + ([] if model is not None and model.readout != "all" else ["time"]) + [None]
    outputs = [helper.make_tensor_value_info("y", dtype_code, y_shape)]
    outputs += [helper.make_tensor_value_info(f"state_{i}_out", dtype_code, ["batch", t.shape[-1]])
                for i, t in enumerate(leaves(template))]
    graph = helper.make_graph(nodes, "rnnkit_sequence", inputs, outputs, b.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], producer_name="rnnkit")
    proto.ir_version = 10
    return _save(proto, path, metadata)


def _merge(b: _Builder, merge: str, p: str, q: str) -> str:
    """``Bidirectional``'s merge of its two directions (``runners.MERGES``) as ONNX operators."""
    if merge == "concat":
        return b.op("Concat", [p, q], axis=-1)
    if merge == "sum":
        return b.op("Add", [p, q])
    if merge == "mean":
        return b.op("Div", [b.op("Add", [p, q]), b.op("CastLike", [b.const(2.0), p])])
    return b.op("Mul", [p, q])


def _pool(b: _Builder, y: str, lengths: str, model: nn.Module) -> str:
    """``SequenceModel._pool``: the mean, max or attention-weighted sum of each sequence's own outputs (B, H)
    from ``y`` (B, T, H); an empty sequence pools to zeros."""
    import numpy as np

    t, L = _time_grid(b, y, lengths)
    live = b.op("Unsqueeze", [b.op("Less", [t, L]), b.const([2])])                       # (B, T, 1) bool
    live_f = b.op("CastLike", [live, y])
    time_axis = b.const([1])
    if model.readout == "mean":
        total = b.op("ReduceSum", [b.op("Mul", [y, live_f]), time_axis], keepdims=0)
        count = b.op("Max", [b.op("ReduceSum", [live_f, time_axis], keepdims=0), b.op("CastLike", [b.const(1.0), y])])
        return b.op("Div", [total, count])
    if model.readout == "max":
        dtype = model.head.weight.dtype
        lowest = b.const(np.asarray(torch.finfo(dtype).min, dtype=str(dtype).removeprefix("torch.")))
        peak = b.op("ReduceMax", [b.op("Where", [live, y, lowest]), time_axis], keepdims=0)
        return b.op("Mul", [peak, b.op("ReduceMax", [live_f, time_axis], keepdims=0)])      # 0 where empty
    w = model.score.weight.detach().cpu().numpy().T.copy()                                 # (H, 1)
    scores = b.op("Add", [b.op("MatMul", [y, b.const(w, "score_w")]),
                          b.const(model.score.bias.detach().cpu().numpy(), "score_b")])    # (B, T, 1)
    scores = b.op("Where", [live, scores, b.op("CastLike", [b.const(-np.inf), y])])
    weights = b.op("Softmax", [scores], axis=1)
    weights = b.op("Where", [b.op("IsNaN", [weights]), b.op("CastLike", [b.const(0.0), y]), weights])  # empty
    return b.op("ReduceSum", [b.op("Mul", [weights, y]), time_axis], keepdims=0)


def _last(b: _Builder, y: str, lengths: str, directions: list[str] | None, layer: nn.Module) -> str:
    """The many-to-one readout of ``SequenceModel``: each sequence's output at its last step (zero if
    empty); for a bidirectional last layer the forward run's last joined with the backward run's first."""
    def at_last(v: str) -> str:
        index = b.op("Clip", [b.op("Sub", [lengths, b.const(1)]), b.const(0)])
        index = b.op("Unsqueeze", [index, b.const([1, 2])])                          # (B, 1, 1)
        shape = b.op("Concat", [b.op("Slice", [b.op("Shape", [v]), b.const([0]), b.const([1])]), b.const([1]),
                                b.op("Slice", [b.op("Shape", [v]), b.const([2]), b.const([3])])], axis=0)
        picked = b.op("Squeeze", [b.op("GatherElements", [v, b.op("Expand", [index, shape])], axis=1),
                                  b.const([1])])
        some = b.op("CastLike", [b.op("Unsqueeze", [b.op("Greater", [lengths, b.const(0)]), b.const([1])]), picked])
        return b.op("Mul", [picked, some])

    if directions is None:
        return at_last(y)
    first_b = b.op("Gather", [directions[1], b.const(0)], axis=1)
    return _merge(b, layer.merge, at_last(directions[0]), first_b)
