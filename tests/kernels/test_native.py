"""rnnkit.kernels.native: the compiled kernels are built here and agree with the generic path at float32
sizes that use BLAS, at awkward sizes and at any thread count."""
import contextlib

import pytest
import torch

import rnnkit as rk
from rnnkit import kernels
from rnnkit.kernels import native
from rnnkit.state import leaves


def test_native_kernels_are_built_here():
    """This machine has a C++ compiler: the compiled kernels must load, not silently fall back."""
    assert native.status() == "built"
    small = torch.tensor(1e-40)          # -ffast-math must not have turned on flush-to-zero for the process
    assert (small * 1.0).item() != 0.0


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
