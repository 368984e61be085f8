"""rnnkit.kernels (the path choice and ``kernels.run``): every fast path equals the generic autograd path in
float64 (values and gradients, with lengths and ``reverse``, for every option), and configurations that should
take a fast path do take it."""
import pytest
import torch

import rnnkit as rk
from rnnkit import kernels
from rnnkit.state import leaves

D = 3
LSTM_OPTIONS = [
    lambda: rk.LSTMCell(D, 5, peepholes=True),
    lambda: rk.LSTMCell(D, 5, cell_clip=0.5),
    lambda: rk.LSTMCell(D, 5, proj_size=3, proj_clip=0.3),
    lambda: rk.LSTMCell(D, 5, forget_gate=False),
    lambda: rk.LSTMCell(D, 5, forget_gate=False, peepholes=True, cell_clip=1.0),
]
LAYER_NORM = [
    lambda: rk.LSTMCell(D, 5, layer_norm=True),
    lambda: rk.LSTMCell(D, 5, layer_norm=True, peepholes=True, proj_size=4, cell_clip=0.8, proj_clip=0.6, bias=False),
]
WRAPPED = [   # variational dropout (masks in the state) and zoneout in evaluation (no randomness)
    lambda: rk.Dropout(rk.LSTMCell(D, 5), input_p=0.2, output_p=0.3, state_p=0.4, variational=True),
    lambda: rk.Dropout(rk.LSTMCell(D, 5, peepholes=True, proj_size=4), state_p=0.5, variational=True),
    lambda: rk.Dropout(rk.LSTMCell(D, 5, layer_norm=True), input_p=0.3, state_p=0.2).eval(),
    lambda: rk.Zoneout(rk.LSTMCell(D, 5), p=0.3, cell_p=0.6).eval(),
    lambda: rk.Zoneout(rk.LSTMCell(D, 5, peepholes=True, proj_size=4, cell_clip=0.7), p=0.2).eval(),
]
GRU_OPTIONS = [
    lambda: rk.GRUCell(D, 4),
    lambda: rk.GRUCell(D, 4, layer_norm=True),
    lambda: rk.GRUCell(D, 4, layer_norm=True, bias=False),
    lambda: rk.GRUCell(D, 4, reset_after=False),
    lambda: rk.GRUCell(D, 4, reset_after=False, bias=False),
    lambda: rk.Dropout(rk.GRUCell(D, 4), input_p=0.2, output_p=0.3, state_p=0.4, variational=True),
    lambda: rk.Dropout(rk.GRUCell(D, 4, reset_after=False), state_p=0.5, variational=True),
    lambda: rk.Zoneout(rk.GRUCell(D, 4, layer_norm=True), p=0.3).eval(),
]
ELMAN_OPTIONS = [
    lambda: rk.ElmanCell(D, 4),
    lambda: rk.ElmanCell(D, 4, activation="relu", bias=False),
    lambda: rk.ElmanCell(D, 4, output_size=3, output_activation="sigmoid"),
    lambda: rk.Dropout(rk.ElmanCell(D, 4), input_p=0.2, output_p=0.3, state_p=0.4, variational=True),
    lambda: rk.Zoneout(rk.ElmanCell(D, 4, activation="relu"), p=0.3).eval(),
]
EUNN_OPTIONS = [
    lambda: rk.EUNNCell(D, 5, capacity=3),
    lambda: rk.EUNNCell(D, 8, fft=True, output_size=3),
    lambda: rk.EUNNCell(D, 6, capacity=6),
]
FAST = {
    "torch": [
        lambda: rk.LSTMCell(D, 5),
        lambda: rk.LSTMCell(D, 5, forget_bias=0.0, bias=False),
        lambda: rk.LSTMCell(D, 5, proj_size=3),
        lambda: rk.GRUCell(D, 4),
        lambda: rk.GRUCell(D, 4, bias=False),
        lambda: rk.ElmanCell(D, 4),
        lambda: rk.ElmanCell(D, 4, activation="relu"),
        lambda: rk.ElmanCell(D, 4, output_size=3, output_activation="sigmoid"),
        lambda: rk.ElmanCell(D, 4, activation="relu", output_size=2),
    ],
    "native-lstm": LSTM_OPTIONS + LAYER_NORM + WRAPPED,
    "native-gru": GRU_OPTIONS,
    "native-elman": ELMAN_OPTIONS,
    # the pure-PyTorch kernel, where the compiled one cannot be built
    "fused-lstm": LSTM_OPTIONS + LAYER_NORM,
    "native-eunn": EUNN_OPTIONS,
    "eunn": EUNN_OPTIONS,
}
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
    if path == "fused-lstm":
        with kernels.without_native():
            expected = "generic" if cell.layer_norm else "fused-lstm"   # layer norm: measured faster generic
            assert kernels.path_for(cell, x) == expected
        return
    if path == "eunn":                                            # the PyTorch-ops loop, without the compiled
        assert kernels.path_for(cell, x) == "native-eunn"
        with kernels.without_native():
            assert kernels.path_for(cell, x) == "eunn"
        return
    if path == "torch" and isinstance(cell, (rk.GRUCell, rk.ElmanCell)):   # torch's only without the compiled
        with kernels.without_native():
            assert kernels.path_for(cell, x) == "torch"
        assert kernels.path_for(cell, x) == ("native-gru" if isinstance(cell, rk.GRUCell) else "native-elman")
        return
    if path == "torch" and isinstance(cell, rk.LSTMCell):   # oneDNN's LSTM but for one sequence or a projection
        assert kernels.path_for(cell, x[:1]) == "native-lstm"
        if cell.proj_size:
            assert kernels.path_for(cell, x) == "native-lstm"
            with kernels.without_native():
                assert kernels.path_for(cell, x) == "torch"
            return
    assert kernels.path_for(cell, x) == path
    assert kernels.path_for(cell, x[:, :1]) == "generic"
    with kernels.only_generic():
        assert kernels.path_for(cell, x) == "generic"          # single steps (generation) stay generic
    if path.startswith("native"):
        y, _ = rk.unroll(cell, x.requires_grad_(), initial_state=cell.initial_state(2, dtype=torch.float64))
        node = {"native-lstm": "rnnkit_lstm_forward", "native-gru": "rnnkit_gru_forward",
                "native-elman": "rnnkit_elman_forward", "native-eunn": "rnnkit_eunn"}[path]          # the custom operators' autograd nodes
        assert any(node in type(fn).__name__ for fn in _graph(y.grad_fn))


def _inner(state):
    """The leaves of the wrapped cell's own state (a Dropout state also carries its masks)."""
    return leaves(state.cell) if isinstance(state, rk.DropoutState) else leaves(state)


def _cell_state(state, fn):
    if isinstance(state, rk.DropoutState):
        return state._replace(cell=rk.map_state(fn, state.cell))
    return rk.map_state(fn, state)


def _random_cell_state(state):
    return _cell_state(state, torch.randn_like)


def _graph(fn, seen=None, max_nodes=50):
    seen = seen if seen is not None else []
    if fn is None or fn in seen or len(seen) > max_nodes:
        return seen
    seen.append(fn)
    for nxt, _ in fn.next_functions:
        _graph(nxt, seen, max_nodes)
    return seen


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, [6, 3, 0, 1]], ids=["full", "lengths"])
@pytest.mark.parametrize("path,i", CASES)
def test_fast_path_equals_autograd_path(path, i, lengths, reverse):
    cell = _make(path, i)
    B, T = 4, 6
    x = torch.randn(B, T, D, dtype=torch.float64)
    s0 = _random_cell_state(cell.initial_state(B, dtype=torch.float64))
    lengths = None if lengths is None else torch.tensor(lengths)

    def run(generic):
        xs = x.clone().requires_grad_()
        ss = _cell_state(s0, lambda t: t.clone().requires_grad_())
        for p in cell.parameters():
            p.grad = None
        if generic:
            with kernels.only_generic():
                y, s = rk.unroll(cell, xs, lengths=lengths, initial_state=ss, reverse=reverse)
        else:   # the kernel itself, whether or not unroll routes this configuration to it
            y, s = kernels.run(path, cell, xs, lengths, ss, reverse)
        g = torch.Generator().manual_seed(1)
        loss = (y * torch.randn(y.shape, generator=g, dtype=y.dtype)).sum()
        loss = loss + sum((t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum() for t in _inner(s))
        loss.backward()
        return [y, *leaves(s), xs.grad, *[t.grad for t in _inner(ss)], *[p.grad for p in cell.parameters()]]

    fast, slow = run(False), run(True)
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("path", ["fused-lstm", "native-lstm"])
def test_lstm_kernels_gradcheck(path):
    cell = _make("native-lstm", 6)                  # every option at once
    x = torch.randn(3, 4, D, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2, 0])
    s0 = cell.initial_state(3)
    assert torch.autograd.gradcheck(lambda x: kernels.run(path, cell, x, lengths, s0, True)[0], (x,))


@pytest.mark.parametrize("path,make", [
    ("native-gru", lambda: rk.GRUCell(D, 4, layer_norm=True)),
    ("native-gru", lambda: rk.GRUCell(D, 4, reset_after=False)),
    ("native-gru", lambda: rk.Dropout(rk.GRUCell(D, 4), state_p=0.3, variational=True)),
    ("native-elman", lambda: rk.ElmanCell(D, 4, output_size=2)),
    ("native-elman", lambda: rk.Dropout(rk.ElmanCell(D, 4, activation="relu"), state_p=0.3, variational=True)),
], ids=["gru_layer_norm", "gru_reset_before", "gru_dropout", "elman_output_map", "elman_relu_dropout"])
def test_gru_and_elman_kernels_gradcheck(path, make):
    torch.manual_seed(0)
    cell = make().double()
    x = torch.randn(3, 4, D, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2, 0])
    s0 = cell.initial_state(3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: kernels.run(path, cell, x, lengths, s0, True)[0], (x,))


@pytest.mark.parametrize("reverse", [False, True])
def test_stack_runs_layer_by_layer_on_the_fast_paths(reverse):
    torch.manual_seed(0)
    cell = rk.Stack([rk.LSTMCell(D, 5, peepholes=True), rk.GRUCell(5, 4, layer_norm=True), rk.ElmanCell(4, 3)]).double()
    x = torch.randn(4, 6, D, dtype=torch.float64)
    lengths = torch.tensor([6, 3, 0, 1])

    def run():
        for p in cell.parameters():
            p.grad = None
        y, s = rk.unroll(cell, x, lengths=lengths, reverse=reverse)
        (y.sum() + sum(t.square().sum() for t in leaves(s))).backward()
        return [y, *leaves(s), *[p.grad for p in cell.parameters()]]

    y, _ = rk.unroll(cell, x.requires_grad_(), lengths=lengths)
    names = {type(fn).__name__ for fn in _graph(y.grad_fn, max_nodes=400)}
    assert any("rnnkit_lstm_forward" in n for n in names) and any("rnnkit_gru_forward" in n for n in names)
    fast = run()
    with kernels.only_generic():
        slow = run()
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
