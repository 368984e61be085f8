"""rnnkit.models.lstm_fcn (and the LSTM-Inception family): the recurrent and convolutional summaries joined,
padding changes nothing, empty batches stay finite."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.cli import _configs, build_parser
from rnnkit.models import FCN, LSTMFCN, LSTMInception, MaskedBatchNorm1d, RecurrentConfig
from rnnkit.tasks import TASKS


def _pad(series: list[torch.Tensor], T: int) -> torch.Tensor:
    out = torch.zeros(len(series), T, series[0].shape[1], dtype=series[0].dtype)
    for b, s in enumerate(series):
        out[b, :len(s)] = s
    return out


FAMILIES = {"lstm-fcn": (LSTMFCN, (16, 32, 16)), "lstm-inception": (LSTMInception, (4,))}


def _model(seed: int = 0, log_length=None, family: str = "lstm-fcn") -> LSTMFCN:
    torch.manual_seed(seed)
    cls, filters = FAMILIES[family]
    return cls(RecurrentConfig(hidden_size=5), input_size=2, output_size=3, log_length=log_length,
               filters=filters).double()


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("log_length", [None, (1.9, 0.4)], ids=["no-length", "length-input"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_series_models_loss_gradients_and_statistics_do_not_depend_on_the_padding(mode, log_length, family):
    torch.manual_seed(1)
    series = [torch.randn(n, 2, dtype=torch.float64) for n in (11, 4, 7)]
    lengths, y = torch.tensor([11, 4, 7]), torch.tensor([0, 2, 1])
    results = []
    for T in (11, 19):                                     # tight, and padded by 8 more steps
        model = _model(log_length=log_length, family=family)
        model.train(mode == "train")
        logits, _ = model(_pad(series, T), lengths)
        loss = nn.functional.cross_entropy(logits, y)
        loss.backward()
        norms = [m for m in model.modules() if isinstance(m, MaskedBatchNorm1d)]
        assert norms
        stats = [m.running_mean.clone() for m in norms] + [m.running_var.clone() for m in norms]
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()], stats))
    (loss_a, grads_a, stats_a), (loss_b, grads_b, stats_b) = results
    torch.testing.assert_close(loss_a, loss_b)
    for a, b in zip(grads_a + stats_a, grads_b + stats_b):
        torch.testing.assert_close(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_a_series_predicted_inside_a_padded_batch_equals_it_alone_after_training_steps(family):
    torch.manual_seed(2)
    model = _model(family=family)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    series = [torch.randn(n, 2, dtype=torch.float64) for n in (13, 3, 8, 6)]
    for _ in range(3):                                     # running statistics moved by padded batches
        logits, _ = model(_pad(series, 20), torch.tensor([13, 3, 8, 6]))
        nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0])).backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    together, _ = model(_pad(series, 20), torch.tensor([13, 3, 8, 6]))
    for b, s in enumerate(series):
        alone, _ = model(s[None], torch.tensor([len(s)]))
        torch.testing.assert_close(together[b], alone[0])


@pytest.mark.slow
def test_an_all_empty_batch_gives_finite_features():
    fcn = FCN(2)
    out = fcn(torch.zeros(2, 5, 2), torch.tensor([0, 0]))
    assert torch.isfinite(out).all() and not out.any()


def _model_cfg(*flags):
    args = build_parser().parse_args(["train", "classify", "--data", "x", *flags])
    return _configs(TASKS["classify"], args)[1]


def test_lstm_fcn_joins_the_recurrent_and_convolutional_summaries_and_ignores_padding():
    from rnnkit.models import FCN, LSTMFCN
    torch.manual_seed(0)
    model = LSTMFCN(_model_cfg("--hidden-size", "5", "--cell", "gru"), input_size=3, output_size=4).eval()
    assert isinstance(model.fcn, FCN) and model.head.in_features == 5 + 128
    x, lengths = torch.randn(3, 9, 3), torch.tensor([9, 6, 4])
    logits, _ = model(x, lengths)
    for b in range(3):
        n = int(lengths[b])
        alone, _ = model(x[b:b + 1, :n], lengths[b:b + 1])
        padded = torch.cat([x[b:b + 1, :n], torch.zeros(1, 5, 3)], dim=1)
        # the conv branch reads zeros past the end as its "same" padding does: outputs equal a lone run
        torch.testing.assert_close(logits[b], alone[0], atol=1e-5, rtol=1e-5)
        again, _ = model(padded, lengths[b:b + 1])
        torch.testing.assert_close(again[0], alone[0], atol=1e-5, rtol=1e-5)
    expected = model.head(torch.cat([model.read(x, lengths), model.fcn(x, lengths)], -1))
    torch.testing.assert_close(logits, expected)
