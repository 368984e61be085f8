"""Bad input gets one clear error naming what was expected and what was received."""
import pytest
import torch

import rnnkit as rk


@pytest.fixture
def lstm():
    return rk.LSTMCell(3, 4)


@pytest.mark.parametrize("x,lengths,exc,pattern", [
    (torch.randn(2, 5, 7), None, ValueError, r"expects input of shape \(B, T, 3\); received shape \(2, 5, 7\)"),
    (torch.randn(5, 3), None, ValueError, r"expects input of shape \(B, T, 3\); received shape \(5, 3\)"),
    (torch.randn(1, 2, 5, 3), None, ValueError, r"received shape \(1, 2, 5, 3\)"),
    (torch.ones(2, 5, 3, dtype=torch.long), None, TypeError, r"expects floating-point input; received torch.int64"),
    (torch.randn(2, 5, 3), [5, 6], ValueError, r"lengths must be <= T=5.*received a length of 6"),
    (torch.randn(2, 5, 3), [5, -1], ValueError, r"lengths must be >= 0; received a length of -1"),
    (torch.randn(2, 5, 3), [5, 4, 3], ValueError, r"lengths must have shape \(2,\).*received \(3,\)"),
    (torch.randn(2, 5, 3), torch.tensor([[5, 4]]), ValueError, r"lengths must have shape \(2,\).*received \(1, 2\)"),
    (torch.randn(2, 5, 3), torch.tensor([5.0, 4.0]), TypeError, r"lengths must be integers; received torch.float32"),
    ("not a tensor", None, TypeError, r"expects a tensor of sequences; received str"),
])
def test_unroll_input_errors(lstm, x, lengths, exc, pattern):
    with pytest.raises(exc, match=pattern):
        rk.unroll(lstm, x, lengths=lengths)


def test_state_of_wrong_shape(lstm):
    bad = rk.LSTMState(torch.zeros(2, 4), torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"expects an initial state shaped LSTMState\(h=\(2, 4\), c=\(2, 4\)\); "
                                         r"received LSTMState\(h=\(2, 4\), c=\(2, 5\)\)"):
        rk.unroll(lstm, torch.randn(2, 5, 3), initial_state=bad)
    with pytest.raises(ValueError, match=r"received \(3, 4\)"):
        rk.unroll(lstm, torch.randn(2, 5, 3), initial_state=torch.zeros(3, 4))


def test_step_errors(lstm):
    with pytest.raises(ValueError, match=r"expects one step of shape \(B, 3\); received \(2, 4\)"):
        lstm(torch.randn(2, 4), lstm.initial_state(2))
    with pytest.raises(TypeError, match=r"expects floating-point input of size 3; received torch.int64"):
        lstm(torch.ones(2, 3, dtype=torch.long), lstm.initial_state(2))


def test_token_cells_check_ids():
    cell = rk.Embedding(rk.GRUCell(4, 4), num_embeddings=5)
    with pytest.raises(ValueError, match=r"token ids in \[0, 5\); received ids in \[0, 9\]"):
        rk.unroll(cell, torch.tensor([[0, 9]]))
    with pytest.raises(TypeError, match=r"reads integer token ids; received torch.float32"):
        rk.unroll(cell, torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"token ids of shape \(B, T\); received shape \(1, 2, 4\)"):
        rk.unroll(cell, torch.zeros(1, 2, 4, dtype=torch.long))


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
