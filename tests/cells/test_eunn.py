"""EUNN (Jing et al. 2017): the recurrent matrix is unitary and equals the naive product of its rotations;
the compiled operator's backward pass passes gradcheck; the CLI trains it; bad layouts get one clear line."""
import pytest
import torch

from cases import perturbed
import naive
import rnnkit as rk
from rnnkit.cells.eunn import pairings


@pytest.mark.parametrize("kw,N", [(dict(capacity=1), 6), (dict(capacity=4), 7), (dict(capacity=9), 9),
                                  (dict(fft=True), 16), (dict(fft=True), 2)])
def test_recurrent_matrix_is_unitary_and_equals_the_naive_product(kw, N):
    cell = perturbed(rk.EUNNCell(3, N, **kw))
    W = cell.recurrent_matrix()                                       # complex64 (N, N)
    h = torch.randn(5, N, dtype=torch.complex64)
    torch.testing.assert_close(torch.linalg.vector_norm(h @ W.T, dim=-1), torch.linalg.vector_norm(h, dim=-1),
                               rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(W.to(torch.complex128), naive.eunn_matrix(cell.double()), rtol=1e-6, atol=1e-6)


def test_layouts_rotate_disjoint_pairs():
    for layers in (pairings(9, capacity=5), pairings(32, fft=True)):
        for pairs in layers:
            units = [u for p in pairs for u in p]
            assert len(units) == len(set(units))
    assert len(pairings(64, fft=True)) == 6
    assert all(len(p) == 32 for p in pairings(64, fft=True))


def test_state_norm_is_kept_over_a_thousand_steps_when_modrelu_is_the_identity():
    """With zero input and zero modReLU bias the step is h -> W h: the norm of h stays put (unitary),
    where an orthogonally initialised tanh Elman network's state shrinks."""
    cell = perturbed(rk.EUNNCell(2, 16, capacity=4), 0.5)
    with torch.no_grad():
        cell.bias.zero_()
    h0 = torch.randn(3, 32)
    _, h = rk.unroll(cell, torch.zeros(3, 1000, 2), initial_state=h0)
    torch.testing.assert_close(h.norm(dim=-1), h0.norm(dim=-1), rtol=1e-3, atol=1e-4)


def test_gradcheck_of_the_compiled_operator():
    torch.manual_seed(0)
    B, T, N, L = 3, 5, 5, 3
    cell = perturbed(rk.EUNNCell(2, N, capacity=L)).double()
    v, w, d = (c.detach() for c in cell.rotations())
    args = [torch.randn(B, T, 2 * N, dtype=torch.float64), torch.randn(B, 2 * N, dtype=torch.float64),
            v, w, d, cell.bias.detach().clone()]
    args = [a.clone().requires_grad_() for a in args]
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.float64)

    def f(gx, h0, v, w, d, b):
        return torch.ops.rnnkit.eunn(gx, h0, mask, v, w, d, b, cell._partner, eps=cell.eps)

    assert torch.autograd.gradcheck(f, args)


def test_operator_checks_its_arguments():
    cell = rk.EUNNCell(2, 4)
    v, w, d = (c.detach() for c in cell.rotations())
    gx, h0 = torch.randn(2, 3, 8), torch.randn(2, 8)
    with pytest.raises(RuntimeError, match="partner"):
        torch.ops.rnnkit.eunn(gx, h0, None, v, w, d, cell.bias.detach(), cell._partner.int(), eps=1e-5)
    with pytest.raises(RuntimeError, match="h0 of shape"):
        torch.ops.rnnkit.eunn(gx, h0[:, :6], None, v, w, d, cell.bias.detach(), cell._partner, eps=1e-5)


def test_bad_layouts_are_refused_with_one_clear_line():
    with pytest.raises(ValueError, match="power of two; received 12"):
        rk.EUNNCell(3, 12, fft=True)
    with pytest.raises(ValueError, match="at least 2"):
        rk.EUNNCell(3, 1)
    with pytest.raises(ValueError, match="capacity must be a positive int"):
        rk.EUNNCell(3, 4, capacity=0)


def test_cli_trains_eunn_and_refuses_a_bad_layout(tmp_path, capsys):
    from rnnkit.cli import main
    from rnnkit.runs import open_run
    assert main(["train", "memory", "--problem", "adding", "--lag", "20", "--cell", "eunn", "--hidden-size", "8",
                 "--fft", "--max-steps", "3", "--run", str(tmp_path / "a")]) == 0
    _, model = open_run(tmp_path / "a")                               # the run folder alone rebuilds it
    cell = model.runner.layers[0].cell
    assert isinstance(cell, rk.EUNNCell) and cell.fft and cell.hidden_size == 8
    assert main(["train", "memory", "--cell", "eunn", "--hidden-size", "12", "--fft", "--max-steps", "3",
                 "--run", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "rnnkit: error: the FFT-style EUNN needs hidden_size a power of two; received 12"
    assert not (tmp_path / "b").exists()


def test_uniform_rotations_give_a_random_unitary_and_come_from_the_flag():
    """--eunn-rotations uniform: angles and phases over the whole circle (the EUNN authors' initialisation), W still
    unitary and far from the identity; identity (the default): W within a few hundredths of it."""
    from rnnkit.models import RecurrentConfig
    torch.manual_seed(0)
    cell = RecurrentConfig(cell="eunn", hidden_size=16, eunn_rotations="uniform").make_cell(3)
    angles = torch.cat([*cell.theta, *cell.phi, cell.omega]).detach()
    assert cell.rotation_init == "uniform" and angles.abs().max() <= torch.pi and angles.abs().max() > 2.5
    W = cell.recurrent_matrix().detach()
    torch.testing.assert_close(W @ W.conj().T, torch.eye(16, dtype=W.dtype), atol=1e-5, rtol=0)
    assert (W - torch.eye(16, dtype=W.dtype)).abs().max() > 0.5
    near = rk.EUNNCell(3, 16).recurrent_matrix().detach()
    assert (near - torch.eye(16, dtype=near.dtype)).abs().max() < 0.1
    with pytest.raises(ValueError, match="rotations must be identity or uniform"):
        rk.EUNNCell(3, 16, rotations="random")
