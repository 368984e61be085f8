"""Every cell and wrapper the suite checks, each built in float64 for input size D=3."""
from __future__ import annotations

import torch

import rnnkit as rk

D = 3


def _lstm(**kw):
    return lambda: rk.LSTMCell(D, 5, **kw)


# name -> (factory, mode) ; mode "eval" puts the cell in eval mode, "train" keeps training mode.
BASE = {
    "elman": lambda: rk.ElmanCell(D, 5),
    "elman_relu_outmap": lambda: rk.ElmanCell(D, 5, activation="relu", output_size=4, output_activation="sigmoid"),
    "basic": lambda: rk.BasicRNNCell(D, 4, output_size=6),
    "basic_nobias_tanh": lambda: rk.BasicRNNCell(D, 4, bias=False, output_activation="tanh"),
    "lstm": _lstm(),
    "lstm_peepholes": _lstm(peepholes=True, forget_bias=0.5),
    "lstm_proj_clip": _lstm(proj_size=3, cell_clip=0.8, proj_clip=0.4),
    "lstm_no_forget_gate": _lstm(forget_gate=False),
    "lstm_no_forget_peepholes": _lstm(forget_gate=False, peepholes=True),
    "lstm_layer_norm": _lstm(layer_norm=True),
    "lstm_everything": _lstm(peepholes=True, proj_size=4, cell_clip=2.0, proj_clip=1.5, layer_norm=True),
    "lstm_softsign": _lstm(activation="softsign"),
    "gru": lambda: rk.GRUCell(D, 4),
    "gru_layer_norm": lambda: rk.GRUCell(D, 4, layer_norm=True),
    "gru_reset_before": lambda: rk.GRUCell(D, 4, reset_after=False),
    "mingru": lambda: rk.MinGRUCell(D, 4),
    "mingru_identity": lambda: rk.MinGRUCell(D, 4, activation="identity"),
    "minlstm": lambda: rk.MinLSTMCell(D, 5),
    "eunn": lambda: rk.EUNNCell(D, 5, capacity=3),
    "eunn_fft_output_map": lambda: rk.EUNNCell(D, 4, fft=True, output_size=3),
}


class UserLinear(rk.Cell):
    """A user's cell that declares its step linear in the state: h = decay h + x W (decay in (0, 1))."""

    def __init__(self, d, h):
        super().__init__()
        self.input_size, self.output_size = d, h
        self.W, self.k = torch.nn.Parameter(torch.randn(d, h)), torch.nn.Parameter(torch.randn(h))

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.output_size, dtype=dtype or self.W.dtype)

    def linear_recurrence(self, x):
        a = torch.sigmoid(self.k).expand(*x.shape[:-1], -1)
        return a, x @ self.W

    def forward(self, x, h):
        a, b = self.linear_recurrence(x)
        h = a * h + b
        return h, h

WRAPPED = {
    "stack": lambda: rk.Stack([rk.LSTMCell(D, 4, peepholes=True), rk.GRUCell(4, 5), rk.ElmanCell(5, 3)]),
    "dropout_variational_train": lambda: rk.Dropout(rk.LSTMCell(D, 4), input_p=0.3, output_p=0.2, state_p=0.25,
                                                    variational=True),
    "dropout_eval": lambda: rk.Dropout(rk.GRUCell(D, 4), input_p=0.3, output_p=0.2, state_p=0.25).eval(),
    "zoneout_eval": lambda: rk.Zoneout(rk.LSTMCell(D, 4), p=0.2, cell_p=0.5).eval(),
    "residual": lambda: rk.Residual(rk.Stack([rk.GRUCell(D, 6), rk.ElmanCell(6, D)])),
    "projection": lambda: rk.Projection(rk.LSTMCell(D, 5, proj_size=4), 2, activation="tanh"),
    "learned_initial_state": lambda: rk.LearnedInitialState(rk.LSTMCell(D, 4, layer_norm=True)),
    "embedding": lambda: rk.Embedding(rk.Stack([rk.LSTMCell(4, 5), rk.GRUCell(5, 3)]), num_embeddings=7),
    "stack_scan": lambda: rk.Stack([rk.MinGRUCell(D, 4), rk.MinLSTMCell(4, 5), rk.GRUCell(5, 3)]),
    "user_linear": lambda: UserLinear(D, 4),
    "stack_eunn": lambda: rk.Stack([rk.EUNNCell(D, 4, capacity=4), rk.GRUCell(8, 3)]),
}

# Randomness at every step: checked with a fixed seed (gradcheck) rather than for invariants.
STOCHASTIC = {
    "dropout_per_step_train": lambda: rk.Dropout(rk.LSTMCell(D, 4), input_p=0.3, output_p=0.2, state_p=0.25),
    "zoneout_train": lambda: rk.Zoneout(rk.GRUCell(D, 4), p=0.3),
}

ALL = {**BASE, **WRAPPED}


def build(name: str, table=None):
    torch.manual_seed(sum(map(ord, name)))
    cell = (table or {**ALL, **STOCHASTIC})[name]().double()
    # perturb every parameter so no LayerNorm gain is exactly 1 and no bias exactly 0
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return cell


def inputs(cell, B: int, T: int, *, generator_seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(generator_seed)
    if getattr(cell, "takes_tokens", False):
        return torch.randint(0, cell.num_embeddings, (B, T), generator=g)
    return torch.randn(B, T, cell.input_size, generator=g, dtype=torch.float64)


# torch.nn recurrent layers rnnkit copies weights to and from: (torch.nn class name, its keyword arguments)
TORCH_NN_CONFIGS = [
    ("LSTM", dict()),
    ("LSTM", dict(proj_size=3)),
    ("GRU", dict()),
    ("RNN", dict(nonlinearity="tanh")),
    ("RNN", dict(nonlinearity="relu")),
]


def perturbed(cell, scale=1.0):
    """``cell`` with seeded noise of ``scale`` added to every parameter (an EUNN's angles far from its near-identity
    start)."""
    torch.manual_seed(3)
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(scale * torch.randn_like(p))
    return cell
