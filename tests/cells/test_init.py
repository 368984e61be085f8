"""rnnkit.cells.init: the svd-rescaled, orthogonal and uniform initialisers; --cell basic and --init reach the
model: a model built from the flags equals one built by hand in Python."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnkit as rk
from rnnkit import BasicRNNCell, LSTMCell
from rnnkit.cells import orthogonal_recurrent_, svd_rescaled_, svd_rescaled_linear_, uniform_
from rnnkit.cli import build_parser
from rnnkit.models import RecurrentConfig, SequenceModel


def _from_flags(*flags: str) -> RecurrentConfig:
    args = build_parser().parse_args(["train", "classify", *flags])
    given = {k: v for k, v in vars(args).items() if v is not None and k in RecurrentConfig.__dataclass_fields__}
    return RecurrentConfig(**given)


@pytest.mark.parametrize("cell, init", [("basic", "svd"), ("basic", "uniform"), ("lstm", "svd"), ("lstm", "orthogonal"),
                                        ("basic", "default")])
def test_a_model_from_the_flags_equals_one_built_in_python(cell, init):
    cfg = _from_flags("--cell", cell, "--init", init, "--init-scale", "1", "--hidden-size", "6")
    torch.manual_seed(0)
    model = SequenceModel(cfg, input_size=3, output_size=4)
    torch.manual_seed(0)
    hand = BasicRNNCell(3, 6) if cell == "basic" else LSTMCell(3, 6)
    {"svd": svd_rescaled_, "uniform": lambda m: uniform_(m, 1.0), "orthogonal": orthogonal_recurrent_,
     "default": lambda m: m}[init](hand)
    head = nn.Linear(6, 4)
    if init == "svd":
        svd_rescaled_linear_(head)
    mine = model.state_dict()
    assert torch.equal(mine["head.weight"], head.weight) and torch.equal(mine["head.bias"], head.bias)
    cell_weights = {k.split(".")[-1]: v for k, v in mine.items() if k.startswith("runner.")}
    assert cell_weights.keys() == dict(hand.named_parameters()).keys()
    for name, p in hand.named_parameters():
        assert torch.equal(cell_weights[name], p), name


def test_svd_rescales_every_matrix_the_notebook_rescales_and_zeroes_the_biases():
    model = SequenceModel(RecurrentConfig(cell="basic", init="svd", hidden_size=7), input_size=3, output_size=5)
    cell = model.runner.layers[0].cell
    for w in (cell.A_u, cell.B_u, cell.A_v, cell.B_v, model.head.weight):      # W_ih, W_hh, W_ho in the notebook
        assert torch.linalg.matrix_norm(w.detach(), ord=2).item() == pytest.approx(1.0, abs=1e-5)
    assert not cell.b_u.any() and not cell.b_v.any() and not model.head.bias.any()
    lstm = SequenceModel(RecurrentConfig(init="svd", hidden_size=5), input_size=3, output_size=2).runner.layers[0].cell
    for w in (lstm.weight_ih, lstm.weight_hh):
        for block in w.detach().split(5, dim=1):                                  # each gate's block
            assert torch.linalg.matrix_norm(block, ord=2).item() == pytest.approx(1.0, abs=1e-5)


def test_uniform_reaches_the_bound_and_chrono_still_sets_the_gates_after_it():
    cell = SequenceModel(RecurrentConfig(init="uniform", init_scale=0.5, chrono=50, hidden_size=64), input_size=3,
                         output_size=2).runner.layers[0].cell
    assert cell.weight_hh.abs().max() <= 0.5 and cell.weight_hh.abs().max() > 0.45
    assert (cell.bias[:64] <= 0).all()                    # chrono's input-gate bias -log(u), drawn after the init


def test_init_is_refused_for_cells_it_does_not_apply_to():
    with pytest.raises(ValueError, match="--init is for"):
        SequenceModel(RecurrentConfig(cell="eunn", init="svd"), input_size=3, output_size=2)


def test_svd_rescaled_orthogonal_and_uniform_initialisers():
    cell = rk.svd_rescaled_(rk.GRUCell(5, 6))
    for w in (cell.weight_ih, cell.weight_hh):
        for block in w.split(6, dim=1):
            assert abs(torch.linalg.matrix_norm(block, ord=2).item() - 1.0) < 1e-5
    assert (cell.bias_ih == 0).all()
    cell = rk.orthogonal_recurrent_(rk.LSTMCell(3, 4))
    for block in cell.weight_hh.split(4, dim=1):
        torch.testing.assert_close(block.T @ block, torch.eye(4), atol=1e-5, rtol=0)
    cell = rk.uniform_(rk.Stack([rk.ElmanCell(3, 4), rk.LSTMCell(4, 4)]), a=0.05)
    assert all(p.abs().max() <= 0.05 for p in cell.parameters())
    with pytest.raises(ValueError, match="a > 0"):
        rk.uniform_(cell, a=0)
