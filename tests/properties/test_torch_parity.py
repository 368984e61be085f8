"""Parity with torch.nn.LSTM / GRU / RNN on copied weights: outputs, final states and gradients, multi-layer
and bidirectional, variable lengths against pack_padded_sequence."""
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from cases import TORCH_NN_CONFIGS
import rnnkit as rk



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
@pytest.mark.parametrize("kind,kw", TORCH_NN_CONFIGS, ids=lambda v: str(v))
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
