"""Fast paths for the built-in cells; ``unroll`` asks ``path_for`` which one a call takes.

Paths, by name:

- ``"torch"``: plain LSTMCell (and GRUCell / ElmanCell without the compiled kernels) on torch's fused
  RNN op (``torch_rnn.py``);
  plain means no peepholes, clipping, layer norm, other activations, a GRU resetting after its
  product, and an LSTM with its forget gate. An Elman output map is one product after the run. Used for sequences of more than one step; single steps (generation) stay on the
  generic path, whose (in, out) weight layout suits batch-1 matrix-vector products.
- ``"native-lstm"``: a plain LSTMCell with a projection or over a single sequence (B = 1), any other tanh LSTMCell (peepholes, clipping, projection, no forget gate, layer
  norm), and any tanh LSTMCell inside variational Dropout or Zoneout, through the compiled time loops
  of ``csrc/lstm.cpp`` (``native.py`` builds them on first use) with an explicit backward pass.
- ``"native-gru"``: any GRUCell (layer norm, reset before the product, plain), and any GRUCell inside
  variational Dropout or Zoneout, through ``csrc/gru.cpp`` (``gru.py``).
- ``"native-elman"``: any tanh or relu ElmanCell (an output map is one product after the run), and one
  without output map inside variational Dropout or Zoneout, through ``csrc/elman.cpp`` (``elman.py``).
- ``"fused-lstm"``: the fallback where the compiled kernel cannot be built: the same recurrence in
  PyTorch ops (``lstm.py``), for tanh LSTMCells without layer norm (measured slower there than the
  generic path) and without wrappers.
- ``"generic"``: any other cell, stepped by ``unroll``'s own loop under autograd.

Kernels never import cells; they read a cell's parameters by name.
"""
from __future__ import annotations

import contextlib

import torch

from torch import Tensor, nn

from . import native
from .elman import elman_unroll
from .elman import native_routed as _native_elman
from .gru import gru_unroll
from .gru import native_routed as _native_gru
from .lstm import lstm_unroll
from .lstm import native_routed as _native_routed
from .lstm import routed as _lstm_routed
from .torch_rnn import torch_unroll

__all__ = ["path_for", "run", "only_generic", "without_native"]

_GENERIC_ONLY = [False]
_NATIVE_OFF = [False]
_NATIVE_DTYPES = (torch.float32, torch.float64)


@contextlib.contextmanager
def only_generic():
    """Within this block every ``unroll`` takes the generic autograd path (for equivalence tests)."""
    _GENERIC_ONLY[0] = True
    try:
        yield
    finally:
        _GENERIC_ONLY[0] = False


@contextlib.contextmanager
def without_native():
    """Within this block ``unroll`` routes as if the compiled kernels could not be built (tests of the fallback)."""
    _NATIVE_OFF[0] = True
    try:
        yield
    finally:
        _NATIVE_OFF[0] = False


def _plain(cell: nn.Module) -> bool:
    kind = type(cell).__name__
    if kind == "LSTMCell":
        return (not cell.peepholes and cell.cell_clip is None and cell.proj_clip is None and not cell.layer_norm
                and cell.forget_gate and cell.activation_name == "tanh")
    if kind == "GRUCell":
        return not cell.layer_norm and cell.reset_after
    if kind == "ElmanCell":
        return cell.activation_name in ("tanh", "relu")
    return False


def path_for(cell: nn.Module, x: Tensor) -> str:
    """Which path ``unroll(cell, x, ...)`` takes: ``"torch"``, ``"native-lstm"``, ``"native-gru"``,
    ``"native-elman"``, ``"fused-lstm"`` or ``"generic"``."""
    if _GENERIC_ONLY[0] or x.dim() != 3 or x.shape[1] < 2:
        return "generic"
    native_ok = (not _NATIVE_OFF[0] and x.device.type == "cpu" and x.dtype in _NATIVE_DTYPES
                 and native.load() is not None)
    if _plain(cell):
        # measured (benchmarks/README.md): the compiled GRU and Elman beat torch's at every size; the compiled
        # LSTM beats oneDNN's for a single sequence, and torch's own LSTM with a projection (which
        # oneDNN does not do) at every size
        kind = type(cell).__name__
        if native_ok and kind == "GRUCell":
            return "native-gru"
        if native_ok and kind == "ElmanCell":
            return "native-elman"
        if native_ok and kind == "LSTMCell" and (x.shape[0] == 1 or cell.proj_size):
            return "native-lstm"
        return "torch"
    if native_ok and _native_routed(cell):
        return "native-lstm"
    if native_ok and _native_gru(cell):
        return "native-gru"
    if native_ok and _native_elman(cell):
        return "native-elman"
    if _lstm_routed(cell):
        return "fused-lstm"
    return "generic"


def run(path: str, cell: nn.Module, x: Tensor, lengths, state, reverse: bool):
    if path == "torch":
        return torch_unroll(cell, x, lengths, state, reverse)
    if path == "native-gru":
        return gru_unroll(cell, x, lengths, state, reverse)
    if path == "native-elman":
        return elman_unroll(cell, x, lengths, state, reverse)
    if path in ("fused-lstm", "native-lstm"):
        return lstm_unroll(cell, x, lengths, state, reverse, compiled=path == "native-lstm")
    raise ValueError(f"no kernel path named {path!r}")
