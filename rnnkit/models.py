"""Heads on top of a runner: sequence models (language model, classifier, tagger, regressor) and Seq2Seq.

A ``RecurrentConfig`` names the recurrent stack (cell kind, sizes, layers, dropout, direction);
``build_runner`` turns it into ``Layers`` of ``RNN`` / ``Bidirectional`` runners. Configs are dataclasses
that checkpoints carry, so a run folder alone rebuilds its model.

>>> m = SequenceModel(RecurrentConfig(cell="gru", hidden_size=8), vocab_size=5, output_size=3, readout="last")
>>> logits, _ = m(torch.tensor([[1, 2, 3], [4, 0, 0]]), lengths=torch.tensor([3, 1]))
>>> tuple(logits.shape)
(2, 3)
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cells import (Dropout, init_, svd_rescaled_linear_, LearnedInitialState, LSTMCell,
                    Residual, Stack, Zoneout, chrono_)
from .cells.kinds import CELL_KINDS, CELL_OPTIONS, cells_taking
from .decoding import beam_search, greedy
from .options import flag_name, option
from .runners import RNN, Bidirectional, Layers, many_to_one
from .sequence import step_mask
from .state import State, leaves, map_state



READOUTS = ("all", "last", "mean", "max", "attention")
POOLS = ("mean", "max", "attention")


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
    init_scale: float = option("--init uniform: the bound a of U(-a, a) (Albert's notes use 1)", 0.1, above=0.0)
    hidden_size: int = option("units per layer (H; complex units for eunn, whose output has 2H)", 128,
                              at_least=1, at_most=65536)
    num_layers: int = option("stacked layers", 1, at_least=1, at_most=1000)
    dropout: float = option("dropout between layers and before the output layer", 0.0, at_least=0.0, below=1.0)
    layer_norm: bool = option("layer-normalised LSTM / GRU", False)
    bidirectional: bool = option("read each sequence both ways (not for generation)", False)
    capacity: int = option("eunn: layers of rotations in the tunable layout (L)", 2, at_least=1, at_most=65536)
    fft: bool = option("eunn: the FFT-style layout, log2 H layers (H a power of two) instead of --capacity", False)
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

    def _check_options(self) -> None:
        kind = CELL_KINDS.get(self.cell)
        if kind is None:
            raise ValueError(f"cell must be one of {', '.join(CELL_KINDS)}; received {self.cell!r}")
        defaults = {f.name: f.default for f in fields(self)}
        for name in CELL_OPTIONS:
            value = getattr(self, name)
            if value != defaults[name] and name not in kind.options:
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


class SequenceModel(nn.Module):
    """Tokens (B, T) or features (B, T, D) -> runner -> linear map to ``output_size``.

    ``readout="all"`` gives one output per step (B, T, O) (language model, tagger, many-to-many
    regression); ``readout="mean"``, ``"max"`` or ``"attention"`` pool the outputs of each sequence's own
    steps (padding never counts; attention pooling scores each step with a learned vector and takes
    the softmax-weighted sum); ``readout="last"`` gives one per sequence (B, O) (Albert's notes' many-to-one: the last
    step, joined with the backward run's first for a bidirectional stack).
    """

    # why the exporters (one id or feature vector a step through embedding, runner, head) cannot write this model;
    # None: they can
    export_refusal: str | None = None

    def __init__(self, rnn: RecurrentConfig, *, output_size: int, vocab_size: int | None = None,
                 input_size: int | None = None, embed_size: int = 64, readout: str = "all"):
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("SequenceModel takes either vocab_size (token ids) or input_size (features)")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}; received {readout!r}")
        self.embedding = nn.Embedding(vocab_size, embed_size) if vocab_size is not None else None
        self.runner = build_runner(rnn, embed_size if vocab_size is not None else input_size)
        self.dropout = nn.Dropout(rnn.dropout)
        self.head = nn.Linear(self.runner.output_size, output_size)
        self.readout = readout
        self.embed_dropout = rnn.embed_dropout
        self.score = nn.Linear(self.runner.output_size, 1) if readout == "attention" else None
        if rnn.init == "svd":                      # the notebook rescales its output weights as its recurrent ones
            svd_rescaled_linear_(self.head)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> State:
        return self.runner.initial_state(batch_size, device=device, dtype=dtype)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def features(self, x: Tensor) -> Tensor:
        if self.embedding is None:
            return x
        p = self.embed_dropout
        if not (self.training and p):
            return self.embedding(x)
        # one mask over the vocabulary per batch: a dropped token is dropped at every position it appears
        keep = torch.empty(self.embedding.num_embeddings, 1, device=x.device).bernoulli_(1 - p) / (1 - p)
        return F.embedding(x, self.embedding.weight * keep, self.embedding.padding_idx)

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State = None) -> tuple[Tensor, State]:
        """Outputs on the model's device, whatever device ``x`` comes from."""
        h = self.features(x.to(self.device))                              # (B, T, D)
        if self.readout != "all":
            return self.head(self.dropout(self.read(h, lengths, state))), None
        y, state = self.runner(h, lengths, state)                         # (B, T, H)
        return self.head(self.dropout(y)), state

    def read(self, h: Tensor, lengths, state: State = None) -> Tensor:
        """One vector per sequence (B, H) from the features ``h`` (B, T, D): the last step or a pool."""
        if self.readout == "last":
            return self._last(h, lengths, state)
        y, _ = self.runner(h, lengths, state)                               # (B, T, H)
        return self._pool(y, lengths)

    def _pool(self, y: Tensor, lengths) -> Tensor:
        """(B, H) from the outputs of each sequence's own steps; an empty sequence pools to zeros."""
        B, T = y.shape[:2]
        live = (step_mask(torch.as_tensor(lengths, device=y.device), T) if lengths is not None
                else torch.ones(B, T, dtype=torch.bool, device=y.device)).unsqueeze(-1)     # (B, T, 1)
        if self.readout == "mean":
            return (y * live).sum(1) / live.sum(1).clamp(min=1)
        if self.readout == "max":
            return torch.where(live, y, torch.finfo(y.dtype).min).amax(1) * live.any(1)
        scores = self.score(y).masked_fill(~live, float("-inf"))                             # (B, T, 1)
        weights = torch.nan_to_num(torch.softmax(scores, dim=1))                            # empty: all zero
        return (weights * y).sum(1)

    def _last(self, h: Tensor, lengths, state) -> Tensor:
        layers = self.runner.layers
        states = state if state is not None else (None,) * len(layers)
        for k, (layer, s) in enumerate(zip(layers[:-1], states)):
            if k and self.runner.dropout:
                h = F.dropout(h, self.runner.dropout, self.training)
            h, _ = layer(h, lengths, s)
        if len(layers) > 1 and self.runner.dropout:
            h = F.dropout(h, self.runner.dropout, self.training)
        last, _ = many_to_one(layers[-1], h, lengths, states[-1])
        return last                                                        # (B, H')


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """Batch normalisation over the live steps of a padded batch (B, C, T) only.

    In training mode the mean and (biased) variance of each channel are taken over the steps inside each
    series' length, ``mu = sum(m x) / sum(m)``, ``var = sum(m (x - mu)^2) / sum(m)``, and the running statistics
    move towards them (the unbiased variance, as ``nn.BatchNorm1d``); in evaluation mode the running statistics
    are used. So the statistics, and everything after them, are those of the same series concatenated without
    padding, however long the batch's padding is. With every step live it is ``nn.BatchNorm1d``.

    >>> bn = MaskedBatchNorm1d(2)
    >>> x = torch.tensor([[[1., 2., 3.], [0., 0., 1.]], [[5., 0., 0.], [2., 0., 0.]]])   # (B 2, C 2, T 3)
    >>> live = torch.tensor([[[1., 1., 1.]], [[1., 0., 0.]]])                             # lengths 3, 1
    >>> torch.allclose(bn(x, live)[1, :, 0], bn(torch.cat([x[0], x[1, :, :1]], 1)[None])[0, :, -1])
    True
    """

    sums: list | None = None     # [n, sum x, sum x^2] over live steps while ``population_statistics_`` counts

    def forward(self, x: Tensor, live: Tensor | None = None) -> Tensor:
        if self.sums is not None:
            m = torch.ones_like(x[:, :1]) if live is None else live
            xm = x * m
            self.sums[0] += m.sum() * 1.0
            self.sums[1] += xm.sum((0, 2)).double()
            self.sums[2] += (xm * x).sum((0, 2)).double()
        if live is None or not self.training or bool(live.all()):
            return super().forward(x)
        n = live.sum().clamp(min=1)                                         # live steps in the batch
        xm = x * live
        mu = xm.sum((0, 2)) / n                                             # (C,)
        var = ((xm * x).sum((0, 2)) / n - mu ** 2).clamp(min=0)             # (C,), biased: E[x^2] - mu^2
        if self.track_running_stats:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked + 1)
                self.num_batches_tracked += 1
                unbiased = var * (n / (n - 1).clamp(min=1))
                self.running_mean.mul_(1 - m).add_(m * mu)
                self.running_var.mul_(1 - m).add_(m * unbiased)
        y = (x - mu[:, None]) / torch.sqrt(var[:, None] + self.eps)
        if self.affine:
            y = y * self.weight[:, None] + self.bias[:, None]
        return y


@torch.no_grad()
def population_statistics_(model: nn.Module, batches: Callable[[], Iterator[tuple[Tensor, Tensor]]]) -> int:
    """Set the running statistics of every ``MaskedBatchNorm1d`` in ``model`` to the mean and unbiased variance
    over all live steps of the data (``batches()`` yields ``(x, lengths)``), layer by layer, each layer counted
    with the layers before it already normalised by their own population statistics. Returns the layers set.

    A moving average of small batches' statistics is not the population's: it misses the spread between the
    batches' means, which is large when a batch of 16 holds a few of many heterogeneous series (52 classes of two
    series each), and evaluation then normalises by the wrong scale. The population statistics are what a batch
    holding every training series would use ("precise BN", Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm").

    >>> fcn = FCN(1)
    >>> x = torch.randn(6, 9, 1) * torch.arange(1, 7.)[:, None, None]        # series of very different scales
    >>> population_statistics_(fcn, lambda: iter([(x[:3], None), (x[3:], None)]))
    3
    >>> _ = fcn.train(); whole = fcn(x, None); _ = fcn.eval()            # the unbiased variance's n / (n - 1))
    >>> bool(torch.allclose(fcn(x, None), whole, rtol=0.02, atol=1e-3))   # as one batch of every series (up to
    True
    """
    norms = [m for m in model.modules() if isinstance(m, MaskedBatchNorm1d)]
    was_training = model.training
    model.eval()
    try:
        for norm in norms:
            norm.sums = [torch.zeros((), dtype=torch.float64), 0.0, 0.0]
            for x, lengths in batches():
                model(x, lengths)
            n, s1, s2 = norm.sums
            if n > 1:
                mean = s1 / n
                var = (s2 / n - mean ** 2).clamp(min=0) * n / (n - 1)
                norm.running_mean.copy_(mean)
                norm.running_var.copy_(var)
            norm.sums = None
    finally:
        for norm in norms:
            norm.sums = None
        model.train(was_training)
    return len(norms)


FCN_FILTERS = (128, 256, 128)    # Wang et al. 2017's three convolutions: filters and widths
FCN_KERNELS = (8, 5, 3)


class FCN(nn.Module):
    """The fully convolutional branch of Wang et al. 2017 (as in Karim et al. 2017's LSTM-FCN): three 1-d
    convolutions (128 filters of width 8, 256 of 5, 128 of 3), each with batch normalisation and ReLU, then the
    mean over each series' own steps. (B, T, D) -> (B, 128).

    Padding never counts: every block's output is zero past a series' end (what a convolution of the series
    alone reads beyond its end), batch normalisation takes its statistics over live steps only, and the mean
    pools each series' own steps; a batch padded to any length gives the outputs and gradients of the series
    without padding."""

    def __init__(self, input_size: int, widths: tuple[int, ...] = FCN_FILTERS, kernels: tuple[int, ...] = FCN_KERNELS):
        super().__init__()
        self.blocks, d = nn.ModuleList(), input_size
        for w, k in zip(widths, kernels):
            # "same" padding, the extra step of an even width on the right (as Keras pads)
            self.blocks.append(nn.Sequential(nn.ConstantPad1d(((k - 1) // 2, k // 2), 0.0), nn.Conv1d(d, w, k),
                                             MaskedBatchNorm1d(w), nn.ReLU()))
            d = w
        self.output_size = d

    def forward(self, x: Tensor, lengths) -> Tensor:
        B, T, _ = x.shape
        live = (step_mask(torch.as_tensor(lengths, device=x.device), T) if lengths is not None
                else torch.ones(B, T, dtype=torch.bool, device=x.device)).unsqueeze(1).to(x.dtype)   # (B, 1, T)
        f = x.transpose(1, 2) * live                                        # (B, D, T)
        for pad, conv, norm, act in self.blocks:
            f = act(norm(conv(pad(f)), live)) * live   # past a series' end stays zero, as alone
        return f.sum(-1) / live.sum(-1).clamp(min=1)                        # (B, C)


class LSTMFCN(SequenceModel):
    """LSTM-FCN (Karim et al. 2017): a recurrent branch (any rnnkit stack and readout) beside a fully
    convolutional branch, their two summaries joined before one linear layer to the classes.

    The recurrent branch reads the series step by step, as the multivariate MLSTM-FCN (Karim et al. 2019)
    does, not the univariate paper's "dimension shuffle" (the whole series as one step). Neither branch sees
    the padding of a batch of unequal lengths (``FCN``, ``MaskedBatchNorm1d``).
    """

    needs_whole_sequence = True

    def __init__(self, rnn: RecurrentConfig, *, input_size: int, output_size: int, readout: str = "last",
                 filters: tuple[int, ...] = FCN_FILTERS, log_length: tuple[float, float] | None = None):
        super().__init__(rnn, input_size=input_size, output_size=output_size, readout=readout)
        if readout == "all":
            raise ValueError("LSTM-FCN gives one output per sequence; received readout 'all'")
        self.fcn = FCN(input_size, tuple(filters))
        # the series' own length as one more input to the head, standardised by the training set's mean and sd of
        # log length: both branches pool or read each series' own steps, so without it a padded archive's cue
        # (how long a gesture took) is lost
        self.log_length = tuple(log_length) if log_length is not None else None
        extra = 1 if self.log_length is not None else 0
        self.head = nn.Linear(self.runner.output_size + self.fcn.output_size + extra, output_size)
        if rnn.init == "svd":
            svd_rescaled_linear_(self.head)

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State = None) -> tuple[Tensor, State]:
        h = self.features(x.to(self.device))                              # (B, T, D)
        joined = [self.read(h, lengths, state), self.fcn(h, lengths)]
        if self.log_length is not None:
            n = (torch.as_tensor(lengths, device=h.device) if lengths is not None
                 else torch.full((h.shape[0],), h.shape[1], device=h.device)).to(h.dtype).clamp(min=1)
            mean, sd = self.log_length
            joined.append(((n.log() - mean) / sd).unsqueeze(-1))                         # (B, 1)
        return self.head(self.dropout(torch.cat(joined, dim=-1))), None


class Ensemble(nn.Module):
    """K models of one architecture from different initial weights; the output is their mean.

    Trained side by side, each member on its own loss (see the forecast task), so the members are the
    independently trained models of a seed ensemble and only their mean is read.

    >>> e = Ensemble([nn.Linear(2, 1), nn.Linear(2, 1)])
    >>> x = torch.ones(3, 2)
    >>> bool(torch.allclose(e(x)[0], (e.members[0](x) + e.members[1](x)) / 2))
    True
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: Tensor, *args, each: bool = False, **kwargs) -> tuple[Tensor, None]:
        """The members' mean output, or with ``each=True`` every member's output stacked (K, ...): what a loss
        reads to train each member on its own (called through the model, so DistributedDataParallel sees it)."""
        outs = [m(x, *args, **kwargs) for m in self.members]
        outs = torch.stack([o[0] if isinstance(o, tuple) else o for o in outs])
        return (outs if each else outs.mean(0)), None


def is_ensemble(model: nn.Module) -> bool:
    """True for an ``Ensemble``, alone or wrapped (DistributedDataParallel keeps it as ``.module``).

    >>> is_ensemble(Ensemble([nn.Linear(2, 1)])), is_ensemble(nn.Linear(2, 1))
    (True, False)
    """
    return isinstance(getattr(model, "module", model), Ensemble)


class LanguageModel(SequenceModel):
    """Next-token model (Albert's notes and the ML@B slides char-rnn) with ``generate``, which carries the state token by token."""

    def __init__(self, rnn: RecurrentConfig, vocab_size: int, embed_size: int = 64):
        if rnn.bidirectional:
            raise ValueError("a language model reads left to right; received bidirectional=True")
        super().__init__(rnn, output_size=vocab_size, vocab_size=vocab_size, embed_size=embed_size)

    @torch.no_grad()
    def generate(self, prime: Tensor, length: int, *, temperature: float = 1.0, top_k: int | None = None,
                 allowed: Tensor | None = None, generator: torch.Generator | None = None) -> Iterator[int]:
        """Yield ``length`` sampled token ids after the ``prime`` ids (T0,), as Albert's notes' ``generate_text``.

        The state is carried from step to step; ``temperature`` divides the logits; ``top_k`` keeps the k
        likeliest tokens; ``allowed`` (V,) bool masks out tokens (Albert's notes' printable-only filter).
        """
        self.eval()
        logits, state = self(prime.view(1, -1))
        logits = logits[0, -1]
        for _ in range(length):
            scores = logits / max(temperature, 1e-8)
            if allowed is not None:
                scores = scores.masked_fill(~allowed.to(scores.device), float("-inf"))
            if top_k:
                kth = torch.topk(scores, min(top_k, scores.numel())).values[-1]
                scores = scores.masked_fill(scores < kth, float("-inf"))
            token = int(torch.multinomial(F.softmax(scores, dim=-1).cpu(), 1, generator=generator))
            yield token
            logits, state = self(torch.tensor([[token]], device=self.device), state=state)
            logits = logits[0, -1]


class Attention(nn.Module):
    r"""Attention of a decoder query over encoder memory, masked by the source lengths.

    ``kind="additive"`` (Bahdanau et al. 2015): ``score(q, m) = v^T tanh(W_q q + W_m m)``.
    ``kind="dot"`` (Luong et al. 2015, multiplicative "general" form): ``score(q, m) = q^T W m``.
    Returns the context ``sum_j alpha_j m_j`` (B, M) and the weights ``alpha`` (B, S).
    """

    def __init__(self, kind: str, query_size: int, memory_size: int, attn_size: int = 64):
        super().__init__()
        if kind not in ("additive", "dot"):
            raise ValueError(f"attention must be none, additive or dot; received {kind!r}")
        self.kind = kind
        if kind == "additive":
            self.W_q = nn.Linear(query_size, attn_size, bias=False)
            self.W_m = nn.Linear(memory_size, attn_size)
            self.v = nn.Linear(attn_size, 1, bias=False)
        else:
            self.W = nn.Linear(memory_size, query_size, bias=False)

    def forward(self, query: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        if self.kind == "additive":
            scores = self.v(torch.tanh(self.W_q(query).unsqueeze(1) + self.W_m(memory))).squeeze(-1)  # (B, S)
        else:
            scores = torch.bmm(self.W(memory), query.unsqueeze(-1)).squeeze(-1)                      # (B, S)
        alpha = F.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        alpha = torch.nan_to_num(alpha)                   # an empty source attends to nothing
        return torch.bmm(alpha.unsqueeze(1), memory).squeeze(1), alpha


class Seq2Seq(nn.Module):
    """Albert's notes' many-to-one-to-many network with attention: encoder, bridge, attentional decoder.

    The encoder (a runner, bidirectional or not) reads the source; a linear ``bridge`` maps its last
    layer's final state to the decoder's initial state. The decoder is a ``Stack`` of cells reading
    ``[E[y_{t-1}]; c_{t-1}]`` (input feeding; zeros in place of ``E[y_{t-1}]`` with ``decoder_input="zeros"``); with attention, ``c_t`` attends over the encoder
    outputs and the output is ``tanh(W_c [h_t; c_t])`` (Luong); without, ``c_t`` is empty.
    """

    def __init__(self, rnn: RecurrentConfig, src_vocab: int, tgt_vocab: int, *, embed_size: int = 64,
                 attention: str = "additive", decoder_input: str = "previous"):
        super().__init__()
        if attention not in ("none", "additive", "dot"):
            raise ValueError(f"attention must be none, additive or dot; received {attention!r}")
        if decoder_input not in ("previous", "zeros"):
            raise ValueError(f"decoder_input must be previous or zeros; received {decoder_input!r}")
        # Albert's notes' sorter feeds its decoder zeros at every step: all it knows of the source is the bridged
        # state (and the attention context, where there is one), never its own or the true previous output
        self.decoder_input = decoder_input
        self.src_embedding = nn.Embedding(src_vocab, embed_size)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embed_size)
        self.encoder = build_runner(rnn, embed_size)
        H, M = rnn.hidden_size, self.encoder.output_size
        self.context_size = M if attention != "none" else 0
        dec_cfg = rnn.decoder_config()
        cells = [dec_cfg.make_cell(embed_size + self.context_size)]
        for _ in range(rnn.num_layers - 1):
            cells.append(dec_cfg.make_cell(cells[-1].output_size))
        self.decoder = Stack(cells)
        H = self.decoder.output_size                                        # 2H for a complex (eunn) state
        template = self.decoder.initial_state(1)
        enc_summary = sum(t.shape[-1] for t in leaves(self.encoder.layers[-1].initial_state(1)))
        self.bridge = nn.Linear(enc_summary, sum(t.shape[-1] for t in leaves(template)))
        self.attention = Attention(attention, H, M) if attention != "none" else None
        self.combine = nn.Linear(H + M, H) if attention != "none" else None
        self.head = nn.Linear(H, tgt_vocab)
        self.dropout = nn.Dropout(rnn.dropout)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor, State]:
        """Memory (B, S, M), its mask (B, S), and the decoder's initial state (on the model's device)."""
        src = src.to(self.device)
        memory, states = self.encoder(self.src_embedding(src), src_lengths)
        summary = torch.cat(leaves(states[-1]), dim=-1)                     # (B, sum of leaf sizes)
        flat = torch.tanh(self.bridge(summary))
        template = self.decoder.initial_state(1, device=self.device)
        parts = iter(torch.split(flat, [t.shape[-1] for t in leaves(template)], dim=-1))
        state = map_state(lambda _: next(parts), template)
        mask = torch.arange(src.shape[1], device=src.device).unsqueeze(0) < src_lengths.to(src.device).unsqueeze(1)
        return memory, mask, state

    def decode_step(self, y_prev: Tensor, context: Tensor, state: State, memory: Tensor, mask: Tensor):
        """One decoder step: logits (B, V), the new context, the new state, the attention weights (B, S) or None."""
        e = self.tgt_embedding(y_prev)                                      # (B, E)
        if self.decoder_input == "zeros":
            e = torch.zeros_like(e)
        h, state = self.decoder(torch.cat([e, context], dim=-1), state)
        alpha = None
        if self.attention is not None:
            context, alpha = self.attention(h, memory, mask)
            h = torch.tanh(self.combine(torch.cat([h, context], dim=-1)))
        return self.head(self.dropout(h)), context, state, alpha

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: logits (B, T', V) for target inputs ``tgt_in`` (B, T') starting with BOS."""
        memory, mask, state = self.encode(src, src_lengths)
        context = memory.new_zeros(src.shape[0], self.context_size)
        logits = []
        for y_prev in tgt_in.to(self.device).unbind(1):
            step_logits, context, state, _ = self.decode_step(y_prev, context, state, memory, mask)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)

    def _stepper(self, memory: Tensor, mask: Tensor):
        """``decoding``'s step function over this memory; the carry is (context, state)."""
        def step(y_prev: Tensor, carry):
            K = y_prev.shape[0]
            mem, msk = (memory, mask) if memory.shape[0] == K else (memory.expand(K, -1, -1), mask.expand(K, -1))
            logits, context, state, alpha = self.decode_step(y_prev, carry[0], carry[1], mem, msk)
            return logits, (context, state), alpha
        return step

    @torch.no_grad()
    def decode(self, src: Tensor, src_lengths: Tensor, *, bos: int, eos: int, max_len: int,
               beam: int = 1, banned: Sequence[int] = ()) -> tuple[list[list[int]], list[list[Tensor]]]:
        """Outputs (EOS excluded) and each output token's attention weights over the source (empty
        lists without attention): greedy for ``beam=1``, else beam search one source at a time; the
        ``banned`` tokens are never emitted."""
        if beam == 1:
            memory, mask, state = self.encode(src, src_lengths)
            carry = (memory.new_zeros(src.shape[0], self.context_size), state)
            return greedy(self._stepper(memory, mask), carry, src.shape[0], bos=bos, eos=eos, max_len=max_len,
                          device=self.device, banned=banned)
        outs, maps = [], []
        for b in range(src.shape[0]):
            n = max(int(src_lengths[b]), 1)
            memory, mask, state = self.encode(src[b:b + 1, :n], src_lengths[b:b + 1])
            carry = (memory.new_zeros(1, self.context_size), state)
            out, att = beam_search(self._stepper(memory, mask), carry, bos=bos, eos=eos, max_len=max_len, beam=beam,
                                   banned=banned)
            outs.append(out)
            maps.append(att)
        return outs, maps

    def greedy(self, src: Tensor, src_lengths: Tensor, *, bos: int, eos: int, max_len: int) -> list[list[int]]:
        """Greedy decoding: the likeliest token at each step, until EOS or ``max_len``."""
        return self.decode(src, src_lengths, bos=bos, eos=eos, max_len=max_len)[0]

    def beam_search(self, src: Tensor, src_lengths: Tensor, *, bos: int, eos: int, max_len: int,
                    beam: int = 4) -> list[list[int]]:
        """Beam search, one source at a time; the best hypothesis by log-probability per token."""
        return self.decode(src, src_lengths, bos=bos, eos=eos, max_len=max_len, beam=beam)[0]


class ConvEncoder(nn.Module):
    """Grey images (B, 1, H, W) -> a grid of feature vectors (B, h*w, C), h = H // 4, w = W // 4.

    Three 3x3 convolutions with ReLU, 2x2 max-pooling after the first two: the "few convolutional
    layers" of the ML@B slides' captioning model, small enough to train on a CPU. Grid cells are
    numbered row by row; those past an image's own width (padding in a batch) are masked out.
    """

    def __init__(self, channels: int = 64):
        super().__init__()
        self.channels = channels
        self.net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(32, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())

    def forward(self, images: Tensor, widths: Tensor) -> tuple[Tensor, Tensor, tuple[int, int]]:
        f = self.net(images)                                                # (B, C, h, w)
        B, C, h, w = f.shape
        cols = (widths.to(f.device) + 3) // 4                               # grid columns an image covers
        live = torch.arange(w, device=f.device).unsqueeze(0) < cols.unsqueeze(1)             # (B, w)
        mask = live.unsqueeze(1).expand(B, h, w).reshape(B, h * w)                             # (B, h*w)
        return f.flatten(2).transpose(1, 2), mask, (h, w)                   # (B, h*w, C)


CAPTION_ATTENTION = ("slides", "soft", "none")


class Captioner(nn.Module):
    r"""Image -> caption: a convolutional encoder, then a recurrent decoder stepped over the words.

    ``attention="slides"`` is the attention LSTM of the ML@B slides,
    ``(i, f, o, g, a_t) = (σ, σ, σ, tanh, softmax) ∘ W (I ∘ a_{t−1}, h_{t−1}, x)``: one linear map of the
    image features weighted by the previous step's attention (``z = Σ_j a_{t−1,j} I_j``), the previous
    output and the word gives the LSTM's gates and the next attention over the ``G`` grid cells (G is
    fixed by the widest training image; cells past an image's width get no weight). The gates are an
    rnnkit ``LSTMCell`` reading ``[z; x]``, the attention rows a linear map of ``[z; h_{t−1}; x]``.

    ``attention="soft"`` is Show, Attend and Tell's (Xu et al. 2015): ``h_{t−1}`` scores every grid cell
    (additive attention), ``z_t = β ⊙ Σ_j α_j I_j`` with the gate ``β = σ(W_β h_{t−1})`` joins the word as
    the cell's input, and the output is ``L_o(E y_{t−1} + L_h h_t + L_z z_t)``. Any rnnkit cell decodes.

    ``attention="none"``: the mean feature vector joins every step's input (no weighting of parts).

    In every form the initial state is a linear map of the mean feature vector (Xu et al.'s init MLP).
    """

    def __init__(self, rnn: RecurrentConfig, vocab_size: int, *, grid_size: int, attention: str = "soft",
                 channels: int = 64, embed_size: int = 64):
        super().__init__()
        if attention not in CAPTION_ATTENTION:
            raise ValueError(f"caption attention must be one of {CAPTION_ATTENTION}; received {attention!r}")
        plain = replace(RecurrentConfig(), hidden_size=rnn.hidden_size, dropout=rnn.dropout)
        if attention == "slides" and (rnn.decoder_config() != plain.decoder_config() or rnn.num_layers != 1):
            changed = [flag_name(f.name) for f in fields(rnn) if getattr(rnn, f.name) != getattr(plain, f.name)]
            raise ValueError(f"the slides' attention LSTM is one plain LSTM layer; received {' '.join(changed)}")
        self.kind, self.grid_size = attention, grid_size
        C, E = channels, embed_size
        self.encoder = ConvEncoder(C)
        self.embedding = nn.Embedding(vocab_size, E)
        if attention == "slides":
            self.decoder = LSTMCell(C + E, rnn.hidden_size)
            H = self.decoder.output_size
            self.attend = nn.Linear(C + H + E, grid_size)                  # the a_t rows of the slides' W
        else:
            cfg = rnn.decoder_config()
            cells = [cfg.make_cell(E + C)]
            for _ in range(rnn.num_layers - 1):
                cells.append(cfg.make_cell(cells[-1].output_size))
            self.decoder = cells[0] if len(cells) == 1 else Stack(cells)
            H = self.decoder.output_size
        template = self.decoder.initial_state(1)
        self.bridge = nn.Linear(C, sum(t.shape[-1] for t in leaves(template)))
        if attention == "soft":
            self.init_query = nn.Linear(C, H)
            self.attention = Attention("additive", H, C)
            self.gate = nn.Linear(H, 1)
            self.L_h, self.L_z = nn.Linear(H, E), nn.Linear(C, E, bias=False)
            self.head = nn.Linear(E, vocab_size)
        else:
            self.attention = None
            self.head = nn.Linear(H, vocab_size)
        self.dropout = nn.Dropout(rnn.dropout)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def encode(self, images: Tensor, widths: Tensor) -> tuple[Tensor, Tensor, tuple[int, int], tuple]:
        """The grid (B, G, C), its mask (B, G), its (rows, columns), and the decoder's first carry."""
        grid, mask, shape = self.encoder(images.to(self.device), widths)
        if self.kind == "slides" and grid.shape[1] > self.grid_size:
            raise ValueError(f"expected images at most {self.grid_size // shape[0] * 4} pixels wide (the widest "
                             f"training image); received {int(widths.max())}")
        live = mask.unsqueeze(-1).to(grid.dtype)
        mean = (grid * live).sum(1) / live.sum(1).clamp(min=1)                # (B, C)
        template = self.decoder.initial_state(1, device=self.device)
        parts = iter(torch.split(torch.tanh(self.bridge(mean)), [t.shape[-1] for t in leaves(template)], dim=-1))
        state = map_state(lambda _: next(parts), template)
        if self.kind == "slides":
            grid, mask = self._pad_grid(grid, mask)
            a0 = mask.to(grid.dtype) / mask.sum(1, keepdim=True).clamp(min=1)   # uniform over the image
            return grid, mask, shape, (state, a0)
        if self.kind == "soft":
            return grid, mask, shape, (state, torch.tanh(self.init_query(mean)))
        return grid, mask, shape, (state, mean)

    def _pad_grid(self, grid: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """The slides' attention has one row of W per grid cell: narrower grids are padded to G."""
        extra = self.grid_size - grid.shape[1]
        return F.pad(grid, (0, 0, 0, extra)), F.pad(mask, (0, extra), value=False)

    def step(self, y_prev: Tensor, carry: tuple, grid: Tensor, mask: Tensor) -> tuple[Tensor, tuple, Tensor | None]:
        """One word: logits (B, V), the new carry, and the attention weights (B, G) that this word read."""
        x = self.embedding(y_prev)                                          # (B, E)
        state, extra = carry
        if self.kind == "slides":
            a_prev = extra                                                  # (B, G)
            z = torch.bmm(a_prev.unsqueeze(1), grid).squeeze(1)             # I ∘ a_{t-1}: (B, C)
            h_new, state_new = self.decoder(torch.cat([z, x], dim=-1), state)
            scores = self.attend(torch.cat([z, state.h, x], dim=-1)).masked_fill(~mask, float("-inf"))
            a_t = torch.nan_to_num(F.softmax(scores, dim=-1))
            return self.head(self.dropout(h_new)), (state_new, a_t), a_prev
        if self.kind == "soft":
            query = extra                                                   # h_{t-1}: (B, H)
            context, alpha = self.attention(query, grid, mask)
            z = torch.sigmoid(self.gate(query)) * context                   # (B, C)
            h, state = self.decoder(torch.cat([x, z], dim=-1), state)
            logits = self.head(self.dropout(x + self.L_h(h) + self.L_z(z)))
            return logits, (state, h), alpha
        h, state = self.decoder(torch.cat([x, extra], dim=-1), state)
        return self.head(self.dropout(h)), (state, extra), None

    def forward(self, images: Tensor, widths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: logits (B, T, V) for the words ``tgt_in`` (B, T) that start with BOS."""
        grid, mask, _, carry = self.encode(images, widths)
        logits = []
        for y_prev in tgt_in.to(self.device).unbind(1):
            step_logits, carry, _ = self.step(y_prev, carry, grid, mask)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)

    @torch.no_grad()
    def decode(self, images: Tensor, widths: Tensor, *, bos: int, eos: int, max_len: int, beam: int = 1,
               banned: Sequence[int] = ()):
        """Captions (EOS excluded), each word's attention weights over the grid, and the grid's (rows, cols);
        the ``banned`` tokens are never emitted."""
        if beam == 1:
            grid, mask, shape, carry = self.encode(images, widths)
            outs, maps = greedy(self._stepper(grid, mask), carry, images.shape[0], bos=bos, eos=eos, max_len=max_len,
                                device=self.device, banned=banned)
            return outs, maps, shape
        outs, maps = [], []
        for b in range(images.shape[0]):
            grid, mask, shape, carry = self.encode(images[b:b + 1], widths[b:b + 1])
            out, att = beam_search(self._stepper(grid, mask), carry, bos=bos, eos=eos, max_len=max_len, beam=beam,
                                   banned=banned)
            outs.append(out)
            maps.append(att)
        return outs, maps, shape

    def _stepper(self, grid: Tensor, mask: Tensor):
        """``decoding``'s step function over this grid; the carry is (state, attention or query)."""
        def step(y_prev: Tensor, carry):
            K = y_prev.shape[0]
            g, m = (grid, mask) if grid.shape[0] == K else (grid.expand(K, -1, -1), mask.expand(K, -1))
            return self.step(y_prev, carry, g, m)
        return step
