"""Fast paths for the built-in cells; ``unroll`` asks ``path_for`` which one a call takes.

Paths, by name:

- ``"torch"``: plain LSTMCell / GRUCell / ElmanCell on torch's fused RNN op (``torch_rnn.py``);
  plain means no peepholes, clipping, layer norm, output map, other activations, and an LSTM with
  its forget gate. Used for sequences of more than one step; single steps (generation) stay on the
  generic path, whose (in, out) weight layout suits batch-1 matrix-vector products.
- ``"fused-lstm"``: any other tanh LSTMCell without layer norm (peepholes, clipping, projection, no
  forget gate) through an explicit backward pass through time (``lstm.py``). The kernel computes
  layer norm too, but measured slower than the generic path there, so ``unroll`` does not route it.
- ``"generic"``: any other cell, stepped by ``unroll``'s own loop under autograd.

Kernels never import cells; they read a cell's parameters by name.
"""
from __future__ import annotations

import contextlib

from torch import Tensor, nn

from .lstm import lstm_unroll
from .lstm import routed as _lstm_routed
from .torch_rnn import torch_unroll

__all__ = ["path_for", "run", "only_generic"]

_GENERIC_ONLY = [False]


@contextlib.contextmanager
def only_generic():
    """Within this block every ``unroll`` takes the generic autograd path (for equivalence tests)."""
    _GENERIC_ONLY[0] = True
    try:
        yield
    finally:
        _GENERIC_ONLY[0] = False


def _plain(cell: nn.Module) -> bool:
    kind = type(cell).__name__
    if kind == "LSTMCell":
        return (not cell.peepholes and cell.cell_clip is None and cell.proj_clip is None and not cell.layer_norm
                and cell.forget_gate and cell.activation_name == "tanh")
    if kind == "GRUCell":
        return not cell.layer_norm and cell.reset_after
    if kind == "ElmanCell":
        return not cell.has_output_map and cell.activation_name in ("tanh", "relu")
    return False


def path_for(cell: nn.Module, x: Tensor) -> str:
    """Which path ``unroll(cell, x, ...)`` takes: ``"torch"``, ``"fused-lstm"`` or ``"generic"``."""
    if _GENERIC_ONLY[0] or x.dim() != 3 or x.shape[1] < 2:
        return "generic"
    if _plain(cell):
        return "torch"
    if _lstm_routed(cell):
        return "fused-lstm"
    return "generic"


def run(path: str, cell: nn.Module, x: Tensor, lengths, state, reverse: bool):
    if path == "torch":
        return torch_unroll(cell, x, lengths, state, reverse)
    if path == "fused-lstm":
        return lstm_unroll(cell, x, lengths, state, reverse)
    raise ValueError(f"no kernel path named {path!r}")
