"""Every fast path equals the generic autograd path in float64 (values and gradients, with lengths and
``reverse``, for every option), and configurations that should take a fast path do take it."""
import pytest
import torch

import rnnkit as rk
from rnnkit import kernels
from rnnkit.state import leaves

D = 3
FAST = {
    "torch": [
        lambda: rk.LSTMCell(D, 5),
        lambda: rk.LSTMCell(D, 5, forget_bias=0.0, bias=False),
        lambda: rk.LSTMCell(D, 5, proj_size=3),
        lambda: rk.GRUCell(D, 4),
        lambda: rk.GRUCell(D, 4, bias=False),
        lambda: rk.ElmanCell(D, 4),
        lambda: rk.ElmanCell(D, 4, activation="relu"),
    ],
    "fused-lstm": [
        lambda: rk.LSTMCell(D, 5, peepholes=True),
        lambda: rk.LSTMCell(D, 5, cell_clip=0.5),
        lambda: rk.LSTMCell(D, 5, proj_size=3, proj_clip=0.3),
        lambda: rk.LSTMCell(D, 5, forget_gate=False),
        lambda: rk.LSTMCell(D, 5, forget_gate=False, peepholes=True, cell_clip=1.0),
    ],
    # computed by the fused LSTM kernel when asked, but routed to the generic path (measured faster)
    "generic": [
        lambda: rk.LSTMCell(D, 5, layer_norm=True),
        lambda: rk.LSTMCell(D, 5, layer_norm=True, peepholes=True, proj_size=4, cell_clip=0.8, proj_clip=0.6,
                            bias=False),
    ],
}
KERNEL = {"torch": "torch", "fused-lstm": "fused-lstm", "generic": "fused-lstm"}
CASES = [(path, i) for path, makers in FAST.items() for i in range(len(makers))]


def _make(path, i):
    torch.manual_seed(i)
    cell = FAST[path][i]().double()
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return cell


@pytest.mark.parametrize("path,i", CASES)
def test_configuration_takes_its_fast_path(path, i):
    cell = _make(path, i)
    x = torch.randn(2, 4, D, dtype=torch.float64)
    assert kernels.path_for(cell, x) == path
    assert kernels.path_for(cell, x[:, :1]) == "generic"
    with kernels.only_generic():
        assert kernels.path_for(cell, x) == "generic"          # single steps (generation) stay generic
    if path == "fused-lstm":
        y, _ = rk.unroll(cell, x.requires_grad_())
        assert any("LSTMRecurrence" in type(fn).__name__ for fn in _graph(y.grad_fn))


def _graph(fn, seen=None):
    seen = seen if seen is not None else []
    if fn is None or fn in seen or len(seen) > 50:
        return seen
    seen.append(fn)
    for nxt, _ in fn.next_functions:
        _graph(nxt, seen)
    return seen


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, [6, 3, 0, 1]], ids=["full", "lengths"])
@pytest.mark.parametrize("path,i", CASES)
def test_fast_path_equals_autograd_path(path, i, lengths, reverse):
    cell = _make(path, i)
    B, T = 4, 6
    x = torch.randn(B, T, D, dtype=torch.float64)
    s0 = rk.map_state(lambda t: torch.randn_like(t), cell.initial_state(B))
    lengths = None if lengths is None else torch.tensor(lengths)

    def run(generic):
        xs = x.clone().requires_grad_()
        ss = rk.map_state(lambda t: t.clone().requires_grad_(), s0)
        for p in cell.parameters():
            p.grad = None
        if generic:
            with kernels.only_generic():
                y, s = rk.unroll(cell, xs, lengths=lengths, initial_state=ss, reverse=reverse)
        else:   # the kernel itself, whether or not unroll routes this configuration to it
            y, s = kernels.run(KERNEL[path], cell, xs, lengths, ss, reverse)
        g = torch.Generator().manual_seed(1)
        loss = (y * torch.randn(y.shape, generator=g, dtype=y.dtype)).sum()
        loss = loss + sum((t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum() for t in leaves(s))
        loss.backward()
        return [y, *leaves(s), xs.grad, *[t.grad for t in leaves(ss)], *[p.grad for p in cell.parameters()]]

    fast, slow = run(False), run(True)
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_fused_lstm_gradcheck():
    cell = _make("generic", 1)                      # every option at once
    x = torch.randn(3, 4, D, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2, 0])
    s0 = cell.initial_state(3)
    assert torch.autograd.gradcheck(lambda x: kernels.run("fused-lstm", cell, x, lengths, s0, True)[0], (x,))
