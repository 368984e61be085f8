"""The recurrent stack as configuration: ``RecurrentConfig`` names the cell kind, its options, sizes, layers,
wrappers and direction (every field a ``rnnkit train`` flag), and ``build_runner`` turns it into ``Layers`` of
``RNN`` / ``Bidirectional`` runners. Configs are dataclasses that checkpoints carry, so a run folder alone
rebuilds its model.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from torch import nn

from ..cells import Dropout, LearnedInitialState, Residual, Zoneout, chrono_, init_, recurrent_norm_
from ..cells.kinds import CELL_KINDS, CELL_OPTIONS, cells_taking
from ..options import flag_name, option
from ..runners import RNN, Bidirectional, Layers


@dataclass
class RecurrentConfig:
    """The recurrent stack; every field is a ``rnnkit train`` flag."""

    cell: str = option("lstm, gru, elman, basic (Albert's notes' cell: separate output and state maps), mingru, "
                       "minlstm (these two train by a parallel scan over time) or eunn (unitary, complex state)", "lstm",
                       choices=CELL_KINDS)           # the registered cells (cells/kinds.py), built-in or added
    init: str = option("the cells' initial weights: each cell's own (default), uniform U(-a, a) with a = "
                       "--init-scale (Albert's notes), svd (U(-1, 1) over the largest singular value, every matrix and "
                       "the output layer, zero biases: the Theano notebook) or orthogonal recurrent matrices",
                       "default", choices=("default", "uniform", "svd", "orthogonal"))
    recurrent_norm: float = option("rescale every recurrent matrix to this largest singular value after --init "
                                   "(the RNN 1 notes' exploding 1.1^n and vanishing 0.9^n; with --init orthogonal "
                                   "also its spectral radius; 0: off)", 0.0, at_least=0.0, at_most=1e6)
    init_scale: float = option("--init uniform: the bound a of U(-a, a) (Albert's notes use 1)", 0.1, above=0.0)
    hidden_size: int = option("units per layer (H; complex units for eunn, whose output has 2H)", 128,
                              at_least=1, at_most=65536)
    num_layers: int = option("stacked layers", 1, at_least=1, at_most=1000)
    dropout: float = option("dropout between layers and before the output layer", 0.0, at_least=0.0, below=1.0)
    layer_norm: bool = option("layer-normalised LSTM / GRU", False)
    bidirectional: bool = option("read each sequence both ways (not for generation)", False)
    capacity: int = option("eunn: layers of rotations in the tunable layout (L)", 2, at_least=1, at_most=65536)
    fft: bool = option("eunn: the FFT-style layout, log2 H layers (H a power of two) instead of --capacity", False)
    eunn_rotations: str = option("eunn: the initial rotation angles and phases: identity (U(-0.01, 0.01), W near the "
                                 "identity) or uniform (U(-pi, pi), a random unitary W, as the EUNN authors' code)",
                                 "identity", choices=("identity", "uniform"))
    chrono: int = option("lstm / gru: chrono initialisation of the gates for dependencies up to this many steps "
                         "(0: off)", 0, at_least=0, at_most=100_000_000)
    # -- the LSTM's options (the ML@B slides' LSTMCell) ----------------------------------------------
    forget_bias: float = option("lstm: constant added to the forget gate's pre-activation", 1.0)
    peepholes: bool = option("lstm: peephole connections from the memory cell to the gates", False)
    proj_size: int = option("lstm: project each output (and the recurrent h) to this size (0: no projection)", 0,
                            at_least=0, at_most=65536)
    cell_clip: float = option("lstm: clip the memory cell to [-v, v] (0: no clipping)", 0.0, at_least=0.0)
    proj_clip: float = option("lstm: clip the projected output to [-v, v] (0: no clipping; needs --proj-size)", 0.0,
                              at_least=0.0)
    forget_gate: bool = option("lstm: a forget gate (off: the RNN 1 notes' first LSTM, c_t = c_(t-1) + i g)", True)
    activation: str = option("lstm / elman: the cell's activation", "tanh", choices=("tanh", "relu", "sigmoid",
                                                                                     "identity"))
    gru_reset_after: bool = option("gru: apply the reset gate after the recurrent product (cuDNN, torch.nn.GRU) "
                                   "rather than before it (Cho et al. 2014)", True)
    # -- wrappers: regularisers and state ------------------------------------------------------------
    input_dropout: float = option("dropout on each layer's input at every step (the ML@B slides' DropoutWrapper)",
                                  0.0, at_least=0.0, below=1.0)
    output_dropout: float = option("dropout on each layer's output at every step", 0.0, at_least=0.0, below=1.0)
    state_dropout: float = option("dropout on each layer's recurrent state (h, not an LSTM's c) at every step", 0.0,
                                  at_least=0.0, below=1.0)
    variational: bool = option("the --input/--output/--state-dropout masks are drawn once per sequence and kept at "
                               "every step (Gal & Ghahramani 2016); off: new masks every step", True)
    zoneout: float = option("zoneout: each state unit keeps its previous value with this probability in training "
                            "(Krueger et al. 2016)", 0.0, at_least=0.0, below=1.0)
    residual: bool = option("residual connections around every layer whose input and output sizes match", False)
    learned_initial_state: bool = option("learn each layer's initial state instead of zeros", False)
    embed_dropout: float = option("token models: drop whole rows of the embedding (every use of a token in a batch; "
                                  "Gal & Ghahramani 2016, Merity et al. 2018)", 0.0, at_least=0.0, below=1.0)

    def make_cell(self, input_size: int) -> nn.Module:
        """One layer's cell with its options and wrappers (innermost first: zoneout, dropout, residual, learned
        initial state); an option given for a cell it does not apply to is one ValueError."""
        self._check_options()
        cell = self._plain_cell(input_size)
        if self.zoneout:
            cell = Zoneout(cell, self.zoneout)
        if self.input_dropout or self.output_dropout or self.state_dropout:
            cell = Dropout(cell, input_p=self.input_dropout, output_p=self.output_dropout,
                           state_p=self.state_dropout, variational=self.variational)
        if self.residual and cell.input_size == cell.output_size:
            cell = Residual(cell)
        if self.learned_initial_state:
            cell = LearnedInitialState(cell)
        return cell

    def applicable(self) -> "RecurrentConfig":
        """This config with the cell options its cell does not take back at their defaults: a run folder saved
        before such an option was refused (when the cell ignored it) opens as it trained."""
        if self.cell not in CELL_KINDS:
            return self
        return replace(self, **self._not_taken())

    def _not_taken(self) -> dict:
        """The cell options this config's cell does not take, each with its default value."""
        kind, defaults = CELL_KINDS[self.cell], {f.name: f.default for f in fields(self)}
        return {n: defaults[n] for n in CELL_OPTIONS if n not in kind.options}

    def _check_options(self) -> None:
        if self.cell not in CELL_KINDS:
            raise ValueError(f"cell must be one of {', '.join(CELL_KINDS)}; received {self.cell!r}")
        for name, default in self._not_taken().items():
            value = getattr(self, name)
            if value != default:
                takers = cells_taking(name)
                cells = " and ".join([", ".join(takers[:-1]), takers[-1]] if len(takers) > 1 else takers)
                raise ValueError(f"{flag_name('no_' + name if value is False else name)} is for {cells} cells; "
                                 f"received --cell {self.cell}")
        if self.proj_clip and not self.proj_size:
            raise ValueError(f"--proj-clip needs --proj-size; received --proj-clip {self.proj_clip} without it")
        if self.chrono and self.chrono < 3:
            raise ValueError(f"--chrono is the longest dependency in steps, at least 3 (or 0: off); received {self.chrono}")

    def _plain_cell(self, input_size: int) -> nn.Module:
        kind = CELL_KINDS[self.cell]
        cell = kind.build(self, input_size)
        if "init" in kind.options:
            init_(cell, self.init, scale=self.init_scale)      # before chrono, which sets the gates' biases
            if self.recurrent_norm:
                recurrent_norm_(cell, self.recurrent_norm)
        return chrono_(cell, self.chrono) if self.chrono else cell

    def decoder_config(self) -> "RecurrentConfig":
        """The same cell and its options for a decoder stepped by hand, one layer at a time. Its initial state
        comes from the encoder, so the wrappers that carry masks or a learned start in the state (dropout,
        learned initial state) and residual connections stay with the encoder."""
        return replace(self, bidirectional=False, dropout=0.0, num_layers=1, input_dropout=0.0, output_dropout=0.0,
                       state_dropout=0.0, residual=False, learned_initial_state=False)


def build_runner(cfg: RecurrentConfig, input_size: int) -> Layers:
    """``num_layers`` runners; each reads the previous one's output (both directions when bidirectional)."""
    layers, d_in = [], input_size
    for _ in range(cfg.num_layers):
        if cfg.bidirectional:
            layers.append(Bidirectional(cfg.make_cell(d_in), cfg.make_cell(d_in)))
        else:
            layers.append(RNN(cfg.make_cell(d_in)))
        d_in = layers[-1].output_size
    return Layers(layers, dropout=cfg.dropout)
