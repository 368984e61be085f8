"""rnnkit.sequence: bad sequences, lengths and states get one clear error naming what was expected and what
was received; reverse_padded."""
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


def test_reverse_padded_is_an_involution_within_lengths():
    x, lengths = torch.randn(3, 5, 2), torch.tensor([5, 0, 3])
    torch.testing.assert_close(rk.reverse_padded(rk.reverse_padded(x, lengths), lengths), x)
    torch.testing.assert_close(rk.reverse_padded(x, lengths)[2, :3], x[2, :3].flip(0))
