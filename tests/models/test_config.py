"""rnnkit.models.config: every option of the cells and wrappers reaches the model from `rnnkit train` flags:
a model built from flags equals one built in Python from the library's classes, on copied weights."""
import pytest
import torch

import rnnkit as rk
from rnnkit.cli import _configs, build_parser
from rnnkit.errors import UserError
from rnnkit.models import SequenceModel
from rnnkit.tasks import TASKS


def _model_cfg(*flags):
    args = build_parser().parse_args(["train", "classify", "--data", "x", *flags])
    return _configs(TASKS["classify"], args)[1]


def _same_outputs(built: torch.nn.Module, expected: torch.nn.Module, input_size: int) -> None:
    expected.load_state_dict(built.state_dict())
    x, lengths = torch.randn(3, 7, input_size), torch.tensor([7, 4, 1])
    torch.manual_seed(5)
    y1, s1 = rk.unroll(built, x, lengths=lengths)
    torch.manual_seed(5)
    y2, s2 = rk.unroll(expected, x, lengths=lengths)
    torch.testing.assert_close(y1, y2, rtol=0, atol=0)


@pytest.mark.parametrize("flags,python", [
    (["--peepholes", "--proj-size", "3", "--cell-clip", "2.5", "--proj-clip", "1.5", "--forget-bias", "0.25",
      "--activation", "relu"],
     lambda: rk.LSTMCell(4, 6, peepholes=True, proj_size=3, cell_clip=2.5, proj_clip=1.5, forget_bias=0.25,
                         activation="relu")),
    (["--no-forget-gate", "--layer-norm"], lambda: rk.LSTMCell(4, 6, forget_gate=False, layer_norm=True)),
    (["--cell", "gru", "--no-gru-reset-after"], lambda: rk.GRUCell(4, 6, reset_after=False)),
    (["--cell", "elman", "--activation", "relu"], lambda: rk.ElmanCell(4, 6, activation="relu")),
    (["--zoneout", "0.2"], lambda: rk.Zoneout(rk.LSTMCell(4, 6), 0.2)),
    (["--input-dropout", "0.1", "--output-dropout", "0.2", "--state-dropout", "0.3"],
     lambda: rk.Dropout(rk.LSTMCell(4, 6), input_p=0.1, output_p=0.2, state_p=0.3, variational=True)),
    (["--state-dropout", "0.3", "--no-variational", "--cell", "gru"],
     lambda: rk.Dropout(rk.GRUCell(4, 6), state_p=0.3, variational=False)),
    (["--zoneout", "0.1", "--state-dropout", "0.2", "--learned-initial-state"],
     lambda: rk.LearnedInitialState(rk.Dropout(rk.Zoneout(rk.LSTMCell(4, 6), 0.1), state_p=0.2, variational=True))),
])
def test_a_cell_built_from_flags_equals_the_one_built_in_python(flags, python):
    cfg = _model_cfg("--hidden-size", "6", *flags)
    torch.manual_seed(0)
    built = cfg.make_cell(4)
    torch.manual_seed(0)
    expected = python()
    assert type(built) is type(expected)
    built.train(), expected.train()                       # dropout and zoneout draw their masks: same seed, same masks
    _same_outputs(built, expected, 4)


def test_residual_wraps_the_layers_whose_sizes_match():
    cfg = _model_cfg("--hidden-size", "6", "--num-layers", "3", "--residual", "--cell", "gru")
    runner = SequenceModel(cfg, output_size=2, input_size=4).runner
    kinds = [type(layer.cell) for layer in runner.layers]
    assert kinds == [rk.GRUCell, rk.Residual, rk.Residual]


@pytest.mark.parametrize("flags,needle", [
    (["--cell", "gru", "--peepholes"], "--peepholes is for lstm"),
    (["--cell", "mingru", "--proj-size", "4"], "--proj-size is for lstm"),
    (["--cell", "gru", "--no-forget-gate"], "--no-forget-gate is for lstm"),
    (["--proj-clip", "1.0"], "--proj-clip needs --proj-size"),
    (["--cell", "gru", "--activation", "relu"], "--activation is for lstm and elman"),
    (["--zoneout", "1.0"], "--zoneout must be a number in [0.0, 1.0)"),
])
def test_an_option_for_another_cell_is_one_clear_line(flags, needle):
    with pytest.raises(UserError, match=needle.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        _model_cfg(*flags)
