"""Parity with torch.nn.LSTM / GRU / RNN on copied weights: outputs, final states and gradients,
multi-layer and bidirectional, variable lengths against pack_padded_sequence; and the round trip."""
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit as rk

CONFIGS = [
    ("LSTM", dict()),
    ("LSTM", dict(proj_size=3)),
    ("GRU", dict()),
    ("RNN", dict(nonlinearity="tanh")),
    ("RNN", dict(nonlinearity="relu")),
]


def _torch_final(kind, hn, L, dirs):
    """torch's (L*dirs, B, H) layout -> per layer, per direction."""
    def split(t):
        return [[t[k * dirs + d] for d in range(dirs)] for k in range(L)]
    return {"h": split(hn[0]), "c": split(hn[1])} if kind == "LSTM" else {"h": split(hn)}


def _ours_final(kind, state, dirs):
    per_layer = []
    for s in state:
        directions = [s.forward, s.backward] if dirs == 2 else [s]
        per_layer.append(directions)
    if kind == "LSTM":
        return {"h": [[d.h for d in layer] for layer in per_layer], "c": [[d.c for d in layer] for layer in per_layer]}
    return {"h": per_layer}


def _grad_pairs(ours, theirs, kind):
    """(our grad, torch grad) for every torch parameter, through the documented layout."""
    pairs = []
    p = dict(theirs.named_parameters())
    from rnnkit.tools.interop import _layer_cells
    for k, (fw, bw) in enumerate(_layer_cells(ours)):
        for cell, sfx in ((fw, f"_l{k}"), (bw, f"_l{k}_reverse")):
            if cell is None:
                continue
            pairs += [(cell.weight_ih.grad, p[f"weight_ih{sfx}"].grad.T), (cell.weight_hh.grad, p[f"weight_hh{sfx}"].grad.T)]
            if kind == "GRU":
                pairs += [(cell.bias_ih.grad, p[f"bias_ih{sfx}"].grad), (cell.bias_hh.grad, p[f"bias_hh{sfx}"].grad)]
            else:
                pairs += [(cell.bias.grad, p[f"bias_ih{sfx}"].grad), (cell.bias.grad, p[f"bias_hh{sfx}"].grad)]
            if kind == "LSTM" and cell.proj_size:
                pairs.append((cell.weight_proj.grad, p[f"weight_hr{sfx}"].grad.T))
    return pairs


@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, False), (2, True), (3, True)])
@pytest.mark.parametrize("kind,kw", CONFIGS, ids=lambda v: str(v))
@pytest.mark.parametrize("variable", [False, True], ids=["full", "packed"])
def test_parity_with_torch_nn(kind, kw, num_layers, bidirectional, variable):
    torch.manual_seed(0)
    theirs = getattr(nn, kind)(4, 5, num_layers=num_layers, bidirectional=bidirectional, batch_first=True,
                               **kw).double()
    ours = rk.from_torch(theirs)
    B, T = 4, 7
    x = torch.randn(B, T, 4, dtype=torch.float64)
    lengths = torch.tensor([7, 5, 1, 3]) if variable else None
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ours, s_ours = ours(x1, lengths)
    if variable:
        packed = pack_padded_sequence(x2, lengths, batch_first=True, enforce_sorted=False)
        y_packed, hn = theirs(packed)
        y_theirs, _ = pad_packed_sequence(y_packed, batch_first=True, total_length=T)
    else:
        y_theirs, hn = theirs(x2)
    torch.testing.assert_close(y_ours, y_theirs)
    dirs = 2 if bidirectional else 1
    want, got = _torch_final(kind, hn, num_layers, dirs), _ours_final(kind, s_ours, dirs)
    for key in want:
        for k in range(num_layers):
            for d in range(dirs):
                torch.testing.assert_close(got[key][k][d], want[key][k][d])
    # gradients through outputs and final states
    g = torch.randn_like(y_ours)
    leaves_ours = [t for key in want for layer in got[key] for t in layer]
    leaves_theirs = [t for key in want for layer in want[key] for t in layer]
    gs = [torch.randn_like(t) for t in leaves_ours]
    loss_ours = (y_ours * g).sum() + sum((t * w).sum() for t, w in zip(leaves_ours, gs))
    loss_theirs = (y_theirs * g).sum() + sum((t * w).sum() for t, w in zip(leaves_theirs, gs))
    loss_ours.backward()
    loss_theirs.backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    for a, b in _grad_pairs(ours, theirs, kind):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("kind,kw", CONFIGS, ids=lambda v: str(v))
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
