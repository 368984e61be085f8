"""Fast paths for the built-in cells, registered in ``registry`` for the cell types each serves.

``unroll`` asks ``registry.find(cell, x)``; these are the built-in paths, in the order they are tried:

- ``"native-lstm"``: every tanh ``LSTMCell`` option (peepholes, clipping, projection, no forget gate,
  layer norm), alone or inside a variational (or evaluating) ``Dropout`` or a ``Zoneout``, through the
  compiled time loops of ``csrc/lstm.cpp`` with an explicit backward pass (``lstm.py``). A plain LSTM
  (``spec().fused_op``) takes it only over one sequence or with a projection; otherwise ``"torch"``,
  whose op is faster over full-length batches (benchmarks/README.md) and which runs this loop itself
  for batches with padding on the CPU (below).
- ``"native-gru"``: any ``GRUCell``, alone or inside those wrappers (``csrc/gru.cpp``, ``gru.py``).
- ``"native-elman"``: tanh or relu ``ElmanCell``s alone (an output map is one product after the run),
  and without an output map inside those wrappers (``csrc/elman.cpp``, ``elman.py``).
- ``"torch"``: cells whose ``spec().fused_op`` names torch's fused recurrence (oneDNN on CPU, cuDNN on
  CUDA), on any device (``torch_rnn.py``). ``supports`` does not see the lengths, so the path's run
  decides by them (``torch_rnn.route``): a full-length batch runs torch's op; one with padding on the
  CPU, where the backward of torch's packed-sequence op grows faster than T (163 s against 1.8 s for
  the compiled loop at 32×2000×128×128, one thread), runs the cell's compiled loop (``native-lstm``,
  ``native-gru``, ``native-elman``), or without the compiled kernels the LSTM's PyTorch-ops loop
  (``fused-lstm``) and for a GRU or Elman cell torch's op over the padded batch; other devices use the
  packed op. So ``path_for`` names ``"torch"`` for a plain LSTM with or without lengths, and with
  lengths on the CPU its time grows linearly in T.
- ``"native-min"``: ``MinGRUCell`` and ``MinLSTMCell``: the input map for all steps in one product,
  then their gates and the scan in one compiled pass (``csrc/scan.cpp``); the backward pass
  recomputes the gates instead of storing them.
- ``"native-scan"``: any cell that declares its step linear in the state, ``h_t = a_t h_{t-1} + b_t``
  (``linear_recurrence``: ``MinGRUCell``, ``MinLSTMCell``, a user's cell): its gates for all steps at
  once, then one fused multiply-add per unit and step (``csrc/scan.cpp``), with lengths and reverse.
- ``"scan"``: the same cells elsewhere (other devices, no compiled kernels), by a parallel prefix
  scan over time in PyTorch ops (``scan.py``), ``O(log T)`` passes.
- ``"native-eunn"``: ``EUNNCell``: the input map for all steps in one product, the rotations' vectors
  built once per sequence, then the time loop and its backward pass compiled (``csrc/eunn.cpp``).
- ``"eunn"``: the same in PyTorch ops where the compiled kernels are not available (``eunn.py``).
- ``"fused-lstm"``: on the CPU where the compiled kernels are not available, tanh LSTMCells without
  layer norm through the same recurrence in PyTorch ops (``lstm.py``).

Every path serves sequences of two or more steps and at least one sequence; single steps
(generation) stay on the generic loop, whose (in, out) weight layout suits batch-1 products.

>>> import rnnkit as rk
>>> path_for(rk.LSTMCell(3, 4, peepholes=True), torch.randn(2, 5, 3)) in ("native-lstm", "fused-lstm")
True
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..cells import Dropout, ElmanCell, EUNNCell, GRUCell, LSTMCell, MinGRUCell, MinLSTMCell, Zoneout
from . import native
from .elman import elman_unroll
from .eunn import eunn_unroll
from .elman import native_computes as _elman_computes
from .gru import gru_unroll
from .gru import native_computes as _gru_computes
from .lstm import lstm_unroll
from .lstm import native_computes as _lstm_computes
from .lstm import python_computes as _lstm_python
from .native import without_native
from .registry import FastPath, find, only_generic, path_for, paths, register, registered, unregister
from .scan import declares_linear, min_rnn_unroll, scan_unroll
from .torch_rnn import OP_ROUTES, route, torch_unroll

__all__ = ["path_for", "run", "find", "paths", "register", "registered", "unregister", "FastPath", "only_generic",
           "without_native", "native"]

_WRAPPERS = (Dropout, Zoneout)


def _sequence(x: Tensor) -> bool:
    """A batch the fast paths serve: (B >= 1, T >= 2, D) floating point."""
    return x.dim() == 3 and x.shape[0] >= 1 and x.shape[1] >= 2 and x.is_floating_point()


def _native_lstm(cell: nn.Module, x: Tensor) -> bool:
    if not (_sequence(x) and native.usable(x) and _lstm_computes(cell)):
        return False
    if type(cell) is LSTMCell and cell.spec().fused_op:     # plain: torch's op wins but for B = 1 or a projection
        return x.shape[0] == 1 or cell.proj_size is not None
    return True


def _native(computes):
    return lambda cell, x: _sequence(x) and native.usable(x) and computes(cell)


def _cpu_low_precision_unsupported(x: Tensor) -> bool:
    """True where oneDNN has no bf16 / fp16 recurrent primitive on this CPU (no AVX-512 BF16 / FP16) and the call
    would run in that precision (the input's dtype or CPU autocast): torch's op then fails to build the primitive."""
    if x.device.type != "cpu":
        return False
    dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
    if dtype == torch.bfloat16:
        return not torch.ops.mkldnn._is_mkldnn_bf16_supported()
    if dtype == torch.float16:
        return not torch.ops.mkldnn._is_mkldnn_fp16_supported()
    return False


def _torch(cell: nn.Module, x: Tensor) -> bool:
    return _sequence(x) and cell.spec().fused_op is not None and not _cpu_low_precision_unsupported(x)


def _fused_lstm(cell: nn.Module, x: Tensor) -> bool:
    # measured on the CPU only; elsewhere the variants take the generic loop until a kernel exists there
    return _sequence(x) and x.device.type == "cpu" and _lstm_python(cell) and not _cpu_low_precision_unsupported(x)


def _scan(cell: nn.Module, x: Tensor) -> bool:
    return _sequence(x) and declares_linear(cell)


def _native_lstm_run(*args):
    return lstm_unroll(*args, compiled=True)


def _fused_lstm_run(*args):
    return lstm_unroll(*args, compiled=False)


_LOOPS = {"native-lstm": _native_lstm_run, "native-gru": gru_unroll, "native-elman": elman_unroll,
          "fused-lstm": _fused_lstm_run}


def _torch_run(cell: nn.Module, x: Tensor, lengths, state, reverse: bool):
    """The ``"torch"`` path: torch's op, or with padding on the CPU a loop linear in T (``torch_rnn.route``)."""
    how = route(cell, x, lengths)
    if how in OP_ROUTES:
        return torch_unroll(cell, x, lengths, state, reverse, how=how)
    return _LOOPS[how](cell, x, lengths, state, reverse)


# registered last-tried first: the registry tries the newest first
register("eunn", (EUNNCell,), lambda cell, x: _sequence(x), eunn_unroll)
register("native-eunn", (EUNNCell,), lambda cell, x: _sequence(x) and native.usable(x),
         lambda *a: eunn_unroll(*a, compiled=True))
register("scan", (), _scan, scan_unroll)
register("native-scan", (), lambda cell, x: _scan(cell, x) and native.usable(x),
         lambda *a: scan_unroll(*a, compiled=True))
register("native-min", (MinGRUCell, MinLSTMCell), lambda cell, x: _scan(cell, x) and native.usable(x), min_rnn_unroll)
register("fused-lstm", (LSTMCell,), _fused_lstm, _fused_lstm_run)
register("torch", (LSTMCell, GRUCell, ElmanCell), _torch, _torch_run)
register("native-elman", (ElmanCell, *_WRAPPERS), _native(_elman_computes), elman_unroll)
register("native-gru", (GRUCell, *_WRAPPERS), _native(_gru_computes), gru_unroll)
register("native-lstm", (LSTMCell, *_WRAPPERS), _native_lstm, _native_lstm_run)


def run(name: str, cell: nn.Module, x: Tensor, lengths, state, reverse: bool):
    """Run the path called ``name`` directly (benchmarks compare paths on the same call)."""
    for path in paths():
        if path.name == name:
            return path.run(cell, x, lengths, state, reverse)
    raise ValueError(f"no fast path named {name!r}; registered: {[p.name for p in paths()]}")
