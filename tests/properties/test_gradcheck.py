"""float64 gradcheck of every cell and wrapper through ``unroll``, with lengths and with ``reverse``:
gradients with respect to the input, the initial state and every parameter."""
import pytest
import torch
from torch.func import functional_call

import rnnkit as rk
from cases import ALL, STOCHASTIC, build, inputs
from rnnkit.state import leaves, map_state


def _check(name, reverse, lengths):
    cell = build(name)
    rnn = rk.RNN(cell, reverse=reverse)
    B, T = 3, 4
    x = inputs(cell, B, T)
    names, params = zip(*rnn.named_parameters())
    template = cell.initial_state(B)
    learned = isinstance(cell, rk.LearnedInitialState)  # its initial state is a parameter already
    state_leaves = [] if learned else [t.detach().clone() + 0.1 for t in leaves(template)]
    floats = [x] if x.is_floating_point() else []
    n_x, n_p = len(floats), len(params)

    def run(*args):
        x_ = args[0] if n_x else x
        it = iter(args[n_x + n_p:])
        state = None if learned else map_state(lambda _: next(it), template)
        torch.manual_seed(0)  # per-step dropout / zoneout draw the same masks on every call
        y, s = functional_call(rnn, dict(zip(names, args[n_x:n_x + n_p])), (x_, lengths, state))
        return (y, *leaves(s))

    args = [t.requires_grad_() for t in floats] + [p.detach().clone().requires_grad_() for p in params]
    args += [t.requires_grad_() for t in state_leaves]
    assert torch.autograd.gradcheck(run, tuple(args), eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", sorted({**ALL, **STOCHASTIC}))
def test_gradcheck_through_unroll(name, reverse):
    _check(name, reverse, torch.tensor([4, 2, 0]))


@pytest.mark.parametrize("name", ["lstm_everything", "gru_layer_norm", "stack", "embedding"])
def test_gradcheck_without_lengths(name):
    _check(name, False, None)
