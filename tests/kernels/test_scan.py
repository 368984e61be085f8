"""Cells linear in their state train by a parallel scan that equals the step-by-step loop."""
import contextlib

import pytest
import torch

import rnnkit as rk
from cases import UserLinear, build
from rnnkit import kernels
from rnnkit.kernels.scan import linear_scan
from rnnkit.state import leaves

SCAN_CELLS = ["mingru", "mingru_identity", "minlstm", "user_linear"]


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", SCAN_CELLS)
def test_scan_equals_the_step_loop_in_values_and_gradients(name, reverse, compiled):
    if compiled and kernels.native.load() is None:
        pytest.skip(kernels.native.status())
    cell = build(name)
    x = torch.randn(4, 9, 3, dtype=torch.float64)
    lengths, h0 = torch.tensor([9, 4, 0, 1]), torch.randn(4, cell.output_size, dtype=torch.float64)
    switch = contextlib.nullcontext if compiled else kernels.without_native
    with switch():
        fused = "native-min" if type(cell) in (rk.MinGRUCell, rk.MinLSTMCell) else "native-scan"
        assert kernels.path_for(cell, x) == (fused if compiled else "scan")

    def run():
        for p in cell.parameters():
            p.grad = None
        y, h = rk.unroll(cell, x, lengths=lengths, initial_state=h0, reverse=reverse)
        (y.square().sum() + h.sum()).backward()
        return [y, h, *[p.grad for p in cell.parameters()]]

    with switch():
        scanned = run()
    with kernels.only_generic():
        looped = run()
    for a, b in zip(scanned, looped):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert bool((scanned[0][1, 4:] == 0).all()) and torch.equal(scanned[1][2], h0[2])   # padding carries


@pytest.mark.parametrize("T", [1, 2, 3, 8, 13, 64])
def test_linear_scan_equals_the_recurrence(T):
    a, b = torch.rand(2, T, 3, dtype=torch.float64), torch.randn(2, T, 3, dtype=torch.float64)
    h0, h, expected = torch.randn(2, 3, dtype=torch.float64), None, []
    h = h0
    for t in range(T):
        h = a[:, t] * h + b[:, t]
        expected.append(h)
    torch.testing.assert_close(linear_scan(a, b, h0), torch.stack(expected, 1))


def test_gradcheck_through_the_scan_with_lengths_and_reverse():
    cell = build("minlstm")
    x = torch.randn(3, 6, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([6, 2, 0])
    for reverse in (False, True):
        assert torch.autograd.gradcheck(lambda x: rk.unroll(cell, x, lengths=lengths, reverse=reverse)[0], (x,))


def test_long_sequences_stay_finite():
    cell = rk.MinGRUCell(3, 8)
    x = torch.randn(2, 4096, 3) * 5
    y, h = rk.unroll(cell, x)
    with kernels.only_generic():
        y2, _ = rk.unroll(cell, x[:, :300])
    assert bool(torch.isfinite(y).all()) and torch.allclose(y[:, :300], y2, atol=1e-5)


def test_stack_of_scan_cells_and_chunked_streaming():
    cell = build("stack_scan")
    x = torch.randn(2, 12, 3, dtype=torch.float64)
    y, s = rk.unroll(cell, x)
    parts, state = [], None
    for a, b in ((0, 5), (5, 6), (6, 12)):
        y_part, state = rk.unroll(cell, x[:, a:b], initial_state=state)
        parts.append(y_part)
    torch.testing.assert_close(torch.cat(parts, 1), y)
    for p, q in zip(leaves(state), leaves(s)):
        torch.testing.assert_close(p, q)


def test_cli_trains_scan_cells(tmp_path, capsys):
    from datasets import text_file
    from rnnkit.cli import main
    data = text_file(tmp_path / "t.txt")
    for cell in ("mingru", "minlstm"):
        assert main(["train", "charlm", "--data", str(data), "--run", str(tmp_path / cell), "--cell", cell,
                     "--max-steps", "4", "--hidden-size", "16", "--seq-len", "16", "--batch-size", "4"]) == 0
    capsys.readouterr()
    assert main(["generate", str(tmp_path / "mingru"), "--prime", "the", "--length", "10", "--seed", "0"]) == 0
    assert capsys.readouterr().out.startswith("the")


def test_user_linear_cell_is_served_by_capability_not_by_name():
    with kernels.without_native():
        assert kernels.path_for(UserLinear(3, 4), torch.randn(2, 5, 3)) == "scan"


def test_gradcheck_of_the_compiled_scan_operator():
    if kernels.native.load() is None:
        pytest.skip(kernels.native.status())
    a = torch.rand(2, 7, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 7, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(torch.ops.rnnkit.linear_scan, (a, b, h0))
    torch.testing.assert_close(torch.ops.rnnkit.linear_scan(a, b, h0), linear_scan(a, b, h0))


@pytest.mark.parametrize("kind, act", [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)])
def test_gradcheck_of_the_compiled_min_rnn_operator(kind, act):
    if kernels.native.load() is None:
        pytest.skip(kernels.native.status())
    B, T, H = 2, 6, 3
    gx = torch.randn(B, T, (2 + kind) * H, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1.0] * T, [1.0] * 3 + [0.0] * 3], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda g, h: torch.ops.rnnkit.min_rnn(g, h, mask, kind=kind, act=act), (gx, h0))
