"""rnnkit.kernels.registry: routing by exact type (never by class name), a fast path registered from outside
the package, re-entrant switches, and register's argument checks."""
import pytest
import torch
from torch import nn

import rnnkit as rk
from rnnkit import kernels
from rnnkit.cells import Cell


class _Tanh(Cell):
    """A user's cell: h_t = tanh(x_t A + h_{t-1} B); it carries attributes the built-ins have, too."""

    peepholes, layer_norm, reset_after, activation_name, has_output_map = False, False, True, "tanh", False
    variational, training_only = True, False

    def __init__(self, d=3, h=4):
        super().__init__()
        self.input_size, self.output_size, self.hidden_size = d, h, h
        self.A, self.B = nn.Parameter(torch.randn(d, h) * 0.5), nn.Parameter(torch.randn(h, h) * 0.5)
        self.weight_ih, self.weight_hh, self.cell = self.A, self.B, self

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, dtype=dtype or self.A.dtype)

    def forward(self, x, h):
        h = torch.tanh(x @ self.A + h @ self.B)
        return h, h


BUILTIN_NAMES = ["LSTMCell", "GRUCell", "ElmanCell", "BasicRNNCell", "Stack", "Dropout", "Zoneout", "Embedding",
                 "Projection", "Residual", "LearnedInitialState"]


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_user_cell_named_like_a_builtin_takes_the_generic_path(name):
    cls = type(name, (_Tanh,), {})
    torch.manual_seed(0)
    cell = cls()
    x, lengths = torch.randn(3, 6, 3), torch.tensor([6, 4, 0])
    assert kernels.path_for(cell, x) == "generic"
    y, h = rk.unroll(cell, x, lengths=lengths)
    # the naive loop: each sequence alone, up to its own length
    for b in range(3):
        hb = torch.zeros(1, 4)
        for t in range(int(lengths[b])):
            hb = torch.tanh(x[b:b + 1, t] @ cell.A + hb @ cell.B)
            assert torch.allclose(y[b, t], hb[0], atol=1e-6)
        assert torch.allclose(h[b], hb[0], atol=1e-6)
        assert bool((y[b, int(lengths[b]):] == 0).all())


def test_subclass_of_a_builtin_takes_the_generic_path():
    class MyLSTM(rk.LSTMCell):   # it may change the step: routing by exact type keeps it generic
        pass

    assert kernels.path_for(MyLSTM(3, 4), torch.randn(2, 5, 3)) == "generic"


def test_fast_path_registered_from_outside_is_used_by_unroll():
    calls = []

    def run(cell, x, lengths, state, reverse):
        calls.append((tuple(x.shape), reverse))
        with kernels.only_generic():   # the "fast path" here is the generic loop itself, counted
            return rk.unroll(cell, x, lengths=lengths, initial_state=state, reverse=reverse)

    cell, x = _Tanh(), torch.randn(2, 5, 3)
    expected, _ = rk.unroll(cell, x, lengths=[5, 2], reverse=True)
    with kernels.registered("counted-tanh", (_Tanh,), lambda c, x: x.shape[1] > 1, run):
        assert kernels.path_for(cell, x) == "counted-tanh"
        y, _ = rk.unroll(cell, x, lengths=[5, 2], reverse=True)
    assert calls == [((2, 5, 3), True)] and torch.equal(y, expected)
    assert kernels.path_for(cell, x) == "generic"                     # unregistered on leaving the block
    # a later registration for a built-in type takes precedence over the built-in paths
    lstm = rk.LSTMCell(3, 4)
    with kernels.registered("mine", (rk.LSTMCell,), lambda c, x: True, run):
        assert kernels.path_for(lstm, x) == "mine"
    assert kernels.path_for(lstm, x) in ("torch", "native-lstm")


def test_switches_are_reentrant():
    cell, x = rk.GRUCell(3, 4), torch.randn(2, 5, 3)
    fast = kernels.path_for(cell, x)
    with kernels.only_generic():
        with kernels.only_generic():
            assert kernels.path_for(cell, x) == "generic"
        assert kernels.path_for(cell, x) == "generic"               # the inner block did not switch it back on
        with kernels.without_native():
            with kernels.without_native():
                pass
            assert not kernels.native.usable(x)
    assert kernels.path_for(cell, x) == fast


def test_register_checks_its_arguments():
    with pytest.raises(TypeError, match="types must be a class"):
        kernels.register("bad", "LSTMCell", lambda c, x: True, lambda *a: None)
