"""Every fast path equals the generic autograd path in float64 (values and gradients, with lengths and
``reverse``, for every option), and configurations that should take a fast path do take it."""
import contextlib

import pytest
import torch

import rnnkit as rk
from rnnkit import kernels
from rnnkit.kernels import native
from rnnkit.kernels.wrapped import zoneout_draw, zoneout_masks
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


def test_native_kernels_are_built_here():
    """This machine has a C++ compiler: the compiled kernels must load, not silently fall back."""
    assert native.status() == "built"
    small = torch.tensor(1e-40)          # -ffast-math must not have turned on flush-to-zero for the process
    assert (small * 1.0).item() != 0.0


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


def _replaying(zoneout: rk.Zoneout, masks: list) -> rk.Zoneout:
    """The generic Zoneout, stepping with given masks (h then c, step by step) instead of drawing."""
    zoneout._zone = lambda new, old, p: (lambda d: d * old + (1 - d) * new)(masks.pop(0))
    return zoneout


ZONED = {
    "lstm": lambda: rk.LSTMCell(D, 5),
    "lstm_options": lambda: rk.LSTMCell(D, 5, peepholes=True, proj_size=4, cell_clip=0.6),
    "lstm_layer_norm": lambda: rk.LSTMCell(D, 5, layer_norm=True),
    "gru": lambda: rk.GRUCell(D, 5),
    "gru_reset_before": lambda: rk.GRUCell(D, 5, reset_after=False),
    "gru_layer_norm": lambda: rk.GRUCell(D, 5, layer_norm=True),
    "elman": lambda: rk.ElmanCell(D, 5),
}


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, [6, 3, 0, 1]], ids=["full", "lengths"])
@pytest.mark.parametrize("name", sorted(ZONED))
def test_native_zoneout_in_training_equals_the_generic_path_with_its_masks(name, lengths, reverse):
    torch.manual_seed(0)
    cell = rk.Zoneout(ZONED[name]().double(), p=0.3, cell_p=0.6)
    is_lstm = isinstance(cell.cell, rk.LSTMCell)                # GRU and Elman states are h alone
    B, T = 4, 6
    x = torch.randn(B, T, D, dtype=torch.float64, requires_grad=True)
    lengths = None if lengths is None else torch.tensor(lengths)

    def run():
        y, s = rk.unroll(cell, x, lengths=lengths, reverse=reverse)
        h, c = (s.h, s.c) if is_lstm else (s, s)
        loss = (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum() + (c ** 2).sum() + h.sum()
        return [y, *leaves(s), *torch.autograd.grad(loss, [x, *cell.parameters()])]

    torch.manual_seed(7)
    fast = run()
    torch.manual_seed(7)
    zh, zc = zoneout_masks(zoneout_draw(cell), T, B, cell.cell.output_size, 5)
    _replaying(cell, [m for t in range(T) for m in ((zh[t], zc[t]) if is_lstm else (zh[t],))])
    with kernels.only_generic():
        slow = run()
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_native_zoneout_masks_are_bernoulli_and_seeded():
    cell = rk.Zoneout(rk.LSTMCell(D, 5), p=0.15, cell_p=0.5)
    torch.manual_seed(3)
    zh, zc = zoneout_masks(zoneout_draw(cell), 200, 16, 64, 32)
    assert set(zh.unique().tolist()) == {0.0, 1.0}
    assert abs(zh.mean().item() - 0.15) < 0.005 and abs(zc.mean().item() - 0.5) < 0.01   # 2e5 and 1e5 draws
    # neighbouring units and steps are not correlated
    assert abs(torch.corrcoef(torch.stack([zc[:, :, :-1].flatten(), zc[:, :, 1:].flatten()]))[0, 1]) < 0.02
    assert abs(torch.corrcoef(torch.stack([zc[:-1].flatten(), zc[1:].flatten()]))[0, 1]) < 0.02
    torch.manual_seed(3)
    again, _ = zoneout_masks(zoneout_draw(cell), 200, 16, 64, 32)
    other, _ = zoneout_masks(zoneout_draw(cell), 200, 16, 64, 32)
    assert torch.equal(zh, again) and not torch.equal(zh, other)
    cell.eval()
    zh, zc = zoneout_masks(zoneout_draw(cell), 2, 3, 4, 5)
    assert bool((zh == 0.15).all()) and bool((zc == 0.5).all())


@pytest.mark.parametrize("make", [lambda: rk.LSTMCell(24, 64, peepholes=True),
                                  lambda: rk.LSTMCell(24, 64, layer_norm=True, proj_size=48, cell_clip=2.0),
                                  lambda: rk.Dropout(rk.LSTMCell(24, 64), input_p=0.2, state_p=0.3, variational=True),
                                  lambda: rk.GRUCell(24, 64, layer_norm=True),
                                  lambda: rk.Zoneout(rk.GRUCell(24, 64, reset_after=False), p=0.2).eval()],
                         ids=["peepholes", "layer_norm_projection", "dropout", "gru_layer_norm", "gru_reset_before"])
def test_native_float32_at_sizes_that_use_blas(make):
    """float32 at a size where the step products are large (csrc/common.h's packed kernel, whole panels)."""
    torch.manual_seed(0)
    cell = make()
    x = torch.randn(16, 20, 24)
    s0 = cell.initial_state(16)
    lengths = torch.randint(0, 21, (16,))

    def run(generic):
        for p in cell.parameters():
            p.grad = None
        if generic:
            with kernels.only_generic():
                y, s = rk.unroll(cell, x, lengths=lengths, initial_state=s0)
        else:
            assert kernels.path_for(cell, x).startswith("native")
            y, s = rk.unroll(cell, x, lengths=lengths, initial_state=s0)
        g = torch.Generator().manual_seed(1)
        (y * torch.randn(y.shape, generator=g)).sum().backward()
        return [y, *[p.grad for p in cell.parameters()]]

    for a, b in zip(run(False), run(True), strict=True):   # float32 rounding, relative to each tensor's scale
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())


AWKWARD = {   # widths that are not multiples of the packed kernel's 16-column panels (csrc/common.h)
    "lstm_layer_norm_projection": lambda: rk.LSTMCell(11, 37, layer_norm=True, proj_size=21, peepholes=True),
    "lstm_zoneout": lambda: rk.Zoneout(rk.LSTMCell(11, 37), p=0.2).eval(),
    "gru_reset_before": lambda: rk.GRUCell(11, 37, reset_after=False),
    "gru_layer_norm_dropout": lambda: rk.Dropout(rk.GRUCell(11, 37, layer_norm=True), state_p=0.3, variational=True),
    "elman": lambda: rk.ElmanCell(11, 37),
}


@pytest.mark.parametrize("B", [1, 5, 13, 23])
@pytest.mark.parametrize("name", sorted(AWKWARD))
def test_native_float32_step_products_at_awkward_sizes(name, B):
    """float32 step products with partial panels and every remainder of the kernel's 6-row blocks (each thread's
    block of B rows is B/2 or so), lengths included, against the generic path."""
    torch.manual_seed(0)
    cell = AWKWARD[name]()
    x = torch.randn(B, 9, 11)
    lengths = torch.randint(1, 10, (B,))
    s0 = cell.initial_state(B)

    def run(generic):
        for p in cell.parameters():
            p.grad = None
        with kernels.only_generic() if generic else contextlib.nullcontext():
            y, s = rk.unroll(cell, x, lengths=lengths, initial_state=s0)
        g = torch.Generator().manual_seed(1)
        (y * torch.randn(y.shape, generator=g)).sum().backward()
        return [y, *leaves(s), *[p.grad for p in cell.parameters()]]

    assert kernels.path_for(cell, x).startswith("native")
    for a, b in zip(run(False), run(True), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * max(b.abs().max().item(), 1.0))


def _recurrences(B: int):
    """The compiled recurrences' operators on fixed inputs with awkward widths (H 37, projection 21) and a
    length mask: name -> (inputs that require grad, run(*inputs) -> outputs)."""
    from rnnkit.kernels import ops
    g = torch.Generator().manual_seed(0)
    T, H, P = 9, 37, 21

    def r(*shape, scale=1.0):
        return (scale * torch.randn(*shape, generator=g)).requires_grad_()

    mask = (torch.arange(T).unsqueeze(1) < torch.randint(1, T + 1, (B,), generator=g)).float()   # (T, B)
    lstm_w = dict(W_hh=r(P, 4 * H, scale=0.3), w_ci=r(H), w_cf=r(H), w_co=r(H), g_hh=r(4 * H), g_c=r(H), b_c=r(H),
                  W_proj=r(H, P, scale=0.3))
    W_gru, b_gru, g_gru, W_elman = r(H, 3 * H, scale=0.3), r(3 * H), r(3 * H), r(H, H, scale=0.3)
    zone = (True, 0.2, 0.3, 5)

    def lstm(gx, h0, c0):
        return ops.lstm_recurrence(gx, h0, c0, mask, lstm_w, forget_gate=True, forget_bias=1.0, cell_clip=2.0,
                                   proj_clip=None, eps=1e-5, zone=zone)

    def gru_reset_before(gx, h0):
        return ops.gru_recurrence(gx, h0, mask, W_gru, b_hh=b_gru, reset_after=False, eps=1e-5, zone=zone)

    def gru_layer_norm(gx, h0):
        return ops.gru_recurrence(gx, h0, mask, W_gru, g_hh=g_gru, reset_after=True, eps=1e-5, zone=None)

    def elman(gx, h0):
        return ops.elman_recurrence(gx, h0, mask, W_elman, relu=False, zone=zone)

    return {"lstm_layer_norm_projection_zoneout": ((r(T, B, 4 * H), r(B, P), r(B, H)), lstm),
            "gru_reset_before_zoneout": ((r(T, B, 3 * H), r(B, H)), gru_reset_before),
            "gru_layer_norm": ((r(T, B, 3 * H), r(B, H)), gru_layer_norm),
            "elman_zoneout": ((r(T, B, H), r(B, H)), elman)}


@pytest.mark.parametrize("name", sorted(_recurrences(1)))
def test_native_results_do_not_depend_on_the_thread_count(name):
    """Each thread runs the whole time loop for its own block of batch rows, and a row's products and gate
    maths do not depend on which block holds it: 1, 2 or 3 threads give the same bits, forward and backward
    (the gradients the kernels compute alone: of the input's share of the gates and of the initial state)."""
    runs, threads = [], torch.get_num_threads()
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            inputs, run = _recurrences(13)[name]
            out = run(*inputs)
            g = torch.Generator().manual_seed(1)
            loss = sum((t * torch.randn(t.shape, generator=g)).sum() for t in out)
            runs.append([t.detach() for t in out] + list(torch.autograd.grad(loss, inputs)))
    finally:
        torch.set_num_threads(threads)
    for other in runs[1:]:
        for a, b in zip(runs[0], other, strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_step_product_kernel_at_every_remainder(dtype):
    """The time loops' step products (csrc/common.h: float packed in 16-column panels, rows in blocks of 6;
    double by hand or ATen) equal torch.mm for every row remainder and partial panel."""
    g = torch.Generator().manual_seed(0)
    m = native.load()
    for M in (1, 2, 3, 4, 5, 6, 7, 11, 13):
        for K, N in ((1, 1), (7, 20), (37, 148), (64, 256), (300, 33)):
            a, w = torch.randn(M, K, generator=g, dtype=dtype), torch.randn(K, N, generator=g, dtype=dtype)
            expected = a.double() @ w.double()
            tol = 1e-5 if dtype == torch.float32 else 1e-12
            torch.testing.assert_close(m.step_product(a, w, 2).double(), expected, rtol=tol, atol=tol * K)
    with pytest.raises(RuntimeError, match="expected w of shape"):
        m.step_product(torch.randn(2, 3), torch.randn(4, 5), 1)
