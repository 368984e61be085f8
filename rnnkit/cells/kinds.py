"""The cells a model can be built from by name (``rnnkit train --cell NAME``), each with the options it takes.

A kind is a name, a function that builds the plain cell (no wrappers) from a configuration with its options
(``RecurrentConfig``: any object with those fields) and an input size, and the names of the options that apply
to it. ``register_cell`` adds one, from inside the package or outside it: a new cell is its own module and one
call, and the flags, the checks (an option given for a cell it does not apply to is one error line naming the
cells it is for) and every task pick it up.

>>> kind = CELL_KINDS["gru"]
>>> sorted(kind.options)
['chrono', 'gru_reset_after', 'init', 'init_scale', 'layer_norm', 'recurrent_norm']
>>> cells_taking("layer_norm")
['lstm', 'gru']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from .basic import BasicRNNCell
from .elman import ElmanCell
from .eunn import EUNNCell
from .gru import GRUCell
from .lstm import LSTMCell
from .minimal import MinGRUCell, MinLSTMCell

# the options of RecurrentConfig that some cells take and others refuse (the rest, sizes and wrappers, apply to all)
CELL_OPTIONS = ("init", "init_scale", "recurrent_norm", "layer_norm", "capacity", "fft", "eunn_rotations", "chrono", "forget_bias", "peepholes",
                "proj_size", "cell_clip", "proj_clip", "forget_gate", "activation", "gru_reset_after")


@dataclass(frozen=True)
class CellKind:
    name: str
    build: Callable[[Any, int], nn.Module]     # (config, input size) -> the plain cell
    options: frozenset[str]                    # which of CELL_OPTIONS it takes


CELL_KINDS: dict[str, CellKind] = {}


def register_cell(name: str, build: Callable[[Any, int], nn.Module], options=()) -> CellKind:
    """Make ``--cell name`` build ``build(config, input_size)``, taking the ``options`` (of ``CELL_OPTIONS``)."""
    unknown = set(options) - set(CELL_OPTIONS)
    if unknown:
        raise ValueError(f"a cell's options are among {', '.join(CELL_OPTIONS)}; received {sorted(unknown)}")
    CELL_KINDS[name] = kind = CellKind(name, build, frozenset(options))
    return kind


def cells_taking(option_name: str) -> list[str]:
    return [name for name, kind in CELL_KINDS.items() if option_name in kind.options]


INITIALISABLE = ("init", "init_scale", "recurrent_norm", "chrono")   # these flags set the gates' initial weights
register_cell("lstm", lambda c, d: LSTMCell(
    d, c.hidden_size, forget_bias=c.forget_bias, peepholes=c.peepholes, proj_size=c.proj_size or None,
    cell_clip=c.cell_clip or None, proj_clip=c.proj_clip or None, forget_gate=c.forget_gate,
    layer_norm=c.layer_norm, activation=c.activation),
    INITIALISABLE + ("layer_norm", "forget_bias", "peepholes", "proj_size", "cell_clip", "proj_clip", "forget_gate",
                     "activation"))
register_cell("gru", lambda c, d: GRUCell(d, c.hidden_size, layer_norm=c.layer_norm, reset_after=c.gru_reset_after),
              INITIALISABLE + ("layer_norm", "gru_reset_after"))
register_cell("elman", lambda c, d: ElmanCell(d, c.hidden_size, activation=c.activation),
              ("init", "init_scale", "recurrent_norm", "activation"))
register_cell("basic", lambda c, d: BasicRNNCell(d, c.hidden_size), ("init", "init_scale", "recurrent_norm"))
register_cell("mingru", lambda c, d: MinGRUCell(d, c.hidden_size))
register_cell("minlstm", lambda c, d: MinLSTMCell(d, c.hidden_size))
register_cell("eunn", lambda c, d: EUNNCell(d, c.hidden_size, capacity=c.capacity, fft=c.fft, rotations=c.eunn_rotations),
              ("capacity", "fft", "eunn_rotations"))
