"""rnnkit.tools.interop: the round trip to torch.nn and back, and what torch.nn cannot hold."""
import pytest
import torch
from torch import nn

from cases import TORCH_NN_CONFIGS
import rnnkit as rk




@pytest.mark.parametrize("kind,kw", TORCH_NN_CONFIGS, ids=lambda v: str(v))
def test_round_trip_to_torch_and_back(kind, kw):
    torch.manual_seed(1)
    original = getattr(nn, kind)(3, 6, num_layers=2, bidirectional=True, batch_first=True, **kw)
    back = rk.to_torch(rk.from_torch(original))
    for (n1, p1), (n2, p2) in zip(original.named_parameters(), back.named_parameters()):
        assert n1 == n2
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(back(x)[0], original(x)[0])


def test_lstm_forget_bias_folds_into_torch_bias():
    torch.manual_seed(2)
    cell = rk.LSTMCell(3, 4, forget_bias=1.0)
    theirs = rk.to_torch(rk.RNN(cell))
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(rk.unroll(cell, x)[0], theirs(x)[0])
    assert torch.equal(theirs.bias_hh_l0, torch.zeros(16))


def test_load_from_torch_into_existing_stack():
    torch.manual_seed(3)
    theirs = nn.GRU(3, 4, num_layers=2, batch_first=True)
    ours = rk.RNN(rk.Stack([rk.GRUCell(3, 4), rk.GRUCell(4, 4)]))
    rk.load_from_torch(ours, theirs)
    x = torch.randn(2, 6, 3)
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])


@pytest.mark.parametrize("make,match", [
    (lambda: rk.LSTMCell(3, 4, peepholes=True), "no peepholes"),
    (lambda: rk.LSTMCell(3, 4, layer_norm=True), "no layer_norm"),
    (lambda: rk.GRUCell(3, 4, reset_after=False), "no reset_after=False"),
    (lambda: rk.ElmanCell(3, 4, output_size=2), "output map"),
])
def test_options_torch_lacks_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        rk.to_torch(rk.RNN(make()))


def test_structure_mismatch_is_one_clear_error():
    with pytest.raises(ValueError, match="structure mismatch"):
        rk.load_from_torch(rk.RNN(rk.LSTMCell(3, 4)), nn.LSTM(3, 4, num_layers=2))
    with pytest.raises(TypeError, match="expected torch.nn.LSTM"):
        rk.from_torch(nn.Linear(3, 4))
