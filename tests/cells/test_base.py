"""rnnkit.cells.base: bad steps and bad constructor arguments get one clear error naming what was expected
and what was received."""
import pytest
import torch

import rnnkit as rk


@pytest.fixture
def lstm():
    return rk.LSTMCell(3, 4)


def test_step_errors(lstm):
    with pytest.raises(ValueError, match=r"expects one step of shape \(B, 3\); received \(2, 4\)"):
        lstm(torch.randn(2, 4), lstm.initial_state(2))
    with pytest.raises(TypeError, match=r"expects floating-point input of size 3; received torch.int64"):
        lstm(torch.ones(2, 3, dtype=torch.long), lstm.initial_state(2))


@pytest.mark.parametrize("make,exc,pattern", [
    (lambda: rk.LSTMCell(0, 4), ValueError, "input_size must be a positive int; received 0"),
    (lambda: rk.LSTMCell(3, 4.5), ValueError, "hidden_size must be a positive int; received 4.5"),
    (lambda: rk.LSTMCell(3, 4, proj_clip=1.0), ValueError, "proj_clip needs a projection"),
    (lambda: rk.LSTMCell(3, 4, cell_clip=-1.0), ValueError, "cell_clip must be a positive number or None; received -1.0"),
    (lambda: rk.LSTMCell(3, 4, activation="swish"), ValueError, "activation must be one of .*received 'swish'"),
    (lambda: rk.GRUCell(3, 4, layer_norm=True, reset_after=False), ValueError, "needs reset_after=True"),
    (lambda: rk.Stack([rk.LSTMCell(3, 4), rk.GRUCell(5, 2)]), ValueError, "cell 0 outputs 4 features but cell 1 expects input_size=5"),
    (lambda: rk.Stack([]), ValueError, "at least one cell"),
    (lambda: rk.Dropout(rk.GRUCell(3, 4), input_p=1.0), ValueError, r"input_p must be in \[0, 1\); received 1.0"),
    (lambda: rk.Zoneout(rk.GRUCell(3, 4), p=-0.1), ValueError, r"p must be in \[0, 1\); received -0.1"),
    (lambda: rk.Residual(rk.GRUCell(3, 4)), ValueError, "input_size=3, output_size=4"),
    (lambda: rk.Bidirectional(rk.GRUCell(3, 4), merge="max"), ValueError, "merge must be one of .*received 'max'"),
    (lambda: rk.Bidirectional(rk.GRUCell(3, 4), rk.GRUCell(3, 5), merge="sum"), ValueError, "equal output sizes"),
])
def test_construction_errors(make, exc, pattern):
    with pytest.raises(exc, match=pattern):
        make()
