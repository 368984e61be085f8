"""Every built-in cell equals a naive re-implementation of its seed's equations (tests/naive.py),
run one sequence at a time, for batched, padded, reversed runs through ``unroll``."""
import pytest
import torch

import naive
import rnnkit as rk
from cases import BASE, build, inputs
from rnnkit.state import map_state

STEPS = {rk.ElmanCell: naive.elman_step, rk.BasicRNNCell: naive.basic_step, rk.LSTMCell: naive.lstm_step,
         rk.GRUCell: naive.gru_step, rk.MinGRUCell: naive.mingru_step, rk.MinLSTMCell: naive.minlstm_step,
         rk.EUNNCell: naive.eunn_step}


def _random_state(cell, B):
    g = torch.Generator().manual_seed(7)
    return map_state(lambda t: torch.randn(t.shape, generator=g, dtype=torch.float64), cell.initial_state(B))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", sorted(BASE))
def test_cell_equals_seed_equations(name, reverse):
    cell = build(name, BASE)
    step = STEPS[type(cell)]
    B, T = 4, 6
    x = inputs(cell, B, T)
    lengths = torch.tensor([6, 3, 0, 5])
    s0 = _random_state(cell, B)
    y, s = rk.unroll(cell, x, lengths=lengths, initial_state=s0, reverse=reverse)
    for b in range(B):
        n = int(lengths[b])
        s0_b = map_state(lambda t: t[b:b + 1], s0)
        ys, sb = naive.run_sequence(step, cell, x[b, :n], tuple(s0_b) if isinstance(s0_b, tuple) else s0_b, reverse)
        if n:
            torch.testing.assert_close(y[b, :n], ys, rtol=1e-10, atol=1e-12)
        assert (y[b, n:] == 0).all(), "outputs past a sequence's length must be zero"
        for got, want in zip(rk.state.leaves(s), rk.state.leaves(sb)):
            torch.testing.assert_close(got[b:b + 1], want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(BASE))
def test_forward_equals_project_then_step(name):
    """The hoisted input projection is the same step (``forward == step(project_input(x))``)."""
    cell = build(name, BASE)
    x, s = torch.randn(2, cell.input_size, dtype=torch.float64), _random_state(cell, 2)
    y1, s1 = cell(x, s)
    if hasattr(cell, "project_input"):
        y2, s2 = cell.step(cell.project_input(x), s)
    else:
        y2, s2 = STEPS[type(cell)](cell, x, s)
    torch.testing.assert_close(y1, y2)
    for a, b in zip(rk.state.leaves(s1), rk.state.leaves(s2)):
        torch.testing.assert_close(a, b)
