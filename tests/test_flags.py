"""Every option of the cells and wrappers reaches the model from `rnnkit train` flags: a model built from
flags equals one built in Python from the library's classes, on copied weights."""
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


def test_embedding_dropout_drops_a_token_everywhere_in_the_batch():
    cfg = _model_cfg("--embed-dropout", "0.5")
    model = SequenceModel(cfg, output_size=2, vocab_size=50, embed_size=8)
    x = torch.randint(0, 50, (4, 30))
    torch.manual_seed(1)
    e = model.train().features(x)
    zero = (e == 0).all(-1)                                   # (B, T): rows dropped
    for token in x.unique():
        at = zero[x == token]
        assert at.all() or not at.any()                       # one decision per token type
    assert 0 < zero.float().mean() < 1
    kept = ~zero
    torch.testing.assert_close(e[kept], 2 * model.embedding(x)[kept])
    torch.testing.assert_close(model.eval().features(x), model.embedding(x))


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


def test_lstm_fcn_and_series_normalisation_from_the_command_line(tmp_path):
    from datasets import ts_folder
    from rnnkit.cli import main
    from rnnkit.export import Stream
    from rnnkit.models import LSTMFCN
    from rnnkit.runs import open_run
    folder = ts_folder(tmp_path / "Toy", train=60, test=20)
    run = tmp_path / "run"
    assert main(["train", "classify", "--data", str(folder), "--run", str(run), "--model", "lstm-fcn", "--normalize",
                 "series", "--max-steps", "4", "--eval-every", "2", "--hidden-size", "4"]) == 0
    task, model = open_run(run)
    assert isinstance(model, LSTMFCN)
    task.load_eval_data(None)
    for s in task.valid_x:                                      # each series and dimension: mean 0, sd 1
        torch.testing.assert_close(s.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
        torch.testing.assert_close(s.std(0, unbiased=False), torch.ones(2), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="convolutional branch"):
        Stream(model.eval(), 1)
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2


def _lm_and_texts(tmp_path):
    from datasets import sentiment_csv, text_file
    from rnnkit.cli import main
    text = text_file(tmp_path / "t.txt")
    lm = tmp_path / "lm"
    assert main(["train", "charlm", "--data", str(text), "--run", str(lm), "--max-steps", "3", "--eval-every", "3",
                 "--seq-len", "16", "--batch-size", "4", "--hidden-size", "12", "--num-layers", "2", "--cell", "gru",
                 "--embed-size", "10"]) == 0
    return lm, sentiment_csv(tmp_path / "s.csv")


def test_init_from_loads_the_language_models_weights_into_the_classifier(tmp_path):
    from safetensors.torch import load_file
    from rnnkit.cli import main
    from rnnkit.runs import open_run
    lm, texts = _lm_and_texts(tmp_path)
    run = tmp_path / "clf"
    # max-steps 1 with gradual unfreezing: only the head has moved when the run ends
    assert main(["train", "classify", "--data", str(texts), "--run", str(run), "--init-from", str(lm),
                 "--max-steps", "1", "--eval-every", "1", "--unfreeze-every", "5", "--hidden-size", "99"]) == 0
    task, clf = open_run(run)
    lm_weights = load_file(str(lm / "model.safetensors"))
    assert task.model_cfg.cell == "gru" and task.model_cfg.hidden_size == 12 and task.model_cfg.num_layers == 2
    assert task.meta["vocab"][: len(lm_weights["embedding.weight"])] == open_run(lm)[0].meta["vocab"]
    own = clf.state_dict()
    for name, tensor in lm_weights.items():
        if name.startswith("runner."):
            assert torch.equal(own[name], tensor), name
    torch.testing.assert_close(own["embedding.weight"][: len(lm_weights["embedding.weight"])],
                               lm_weights["embedding.weight"], rtol=0, atol=0)


def test_ulmfit_param_groups_decay_the_rate_downwards_and_unfreeze_from_the_top(tmp_path):
    from rnnkit.models import RecurrentConfig
    from rnnkit.tasks.classify import Classify, ClassifyConfig
    from rnnkit.runtime.train import TrainConfig, Trainer
    lm, texts = _lm_and_texts(tmp_path)
    task = Classify.prepare(ClassifyConfig(init_from=str(lm), lr_decay=2.0, unfreeze_every=2),
                            RecurrentConfig(), str(texts), seed=0)
    model = task.build_model()
    task.initialize(model)
    groups = task.param_groups(model)
    assert [g["lr_factor"] for g in groups] == [1.0, 0.5, 0.25, 0.125]          # head, layer 1, layer 0, embedding
    assert [g["start_step"] for g in groups] == [0, 2, 4, 6]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    (tmp_path / "run").mkdir()
    trainer = Trainer(task, model, TrainConfig(steps=3, lr=1e-2, eval_every=3, batch_size=8), tmp_path / "run")
    trainer.fit()
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert any(n.startswith("head.") for n in moved) and any(n.startswith("runner.layers.1.") for n in moved)
    assert not any(n.startswith(("runner.layers.0.", "embedding.")) for n in moved)


@pytest.mark.parametrize("extra,needle", [(["--bidirectional"], "left-to-right"),
                                          (["--tokens", "word"], "character-level"),
                                          (["--ensemble", "2"], "one model")])
def test_init_from_refusals_are_one_line(tmp_path, capsys, extra, needle):
    from rnnkit.cli import main
    lm, texts = _lm_and_texts(tmp_path)
    capsys.readouterr()
    assert main(["train", "classify", "--data", str(texts), "--run", str(tmp_path / "c"), "--init-from", str(lm),
                 *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    (tmp_path / "config.json").write_text('{"task": "classify", "meta": {}}')
    assert main(["train", "classify", "--data", str(texts), "--run", str(tmp_path / "c"), "--init-from",
                 str(tmp_path)]) == 2
    assert "finished charlm run" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_a_classifier_ensemble_reads_the_mean_and_each_member_learns_from_its_own_loss(tmp_path, capsys):
    import torch.nn.functional as F
    from datasets import sentiment_csv
    from rnnkit.cli import main
    from rnnkit.export import Stream
    from rnnkit.models import Ensemble
    from rnnkit.tasks.classify import Classify, ClassifyConfig
    task = Classify.prepare(ClassifyConfig(ensemble=3, tokens="word"), rk.models.RecurrentConfig(hidden_size=8),
                            str(sentiment_csv(tmp_path / "s.csv")), seed=0)
    torch.manual_seed(0)
    model = task.build_model()
    assert isinstance(model, Ensemble) and len(model.members) == 3
    batch = task.train_batch(0, 16)
    logits, _ = model(batch.x, batch.lengths)
    member_logits = [m(batch.x, batch.lengths)[0] for m in model.members]
    torch.testing.assert_close(logits, torch.stack(member_logits).mean(0))
    geometric = torch.stack([F.log_softmax(z, -1) for z in member_logits]).mean(0)     # the mean log-probability
    torch.testing.assert_close(F.softmax(logits, -1), F.softmax(geometric, -1))
    loss, _, _ = task.loss(model, batch, None)
    grads = torch.autograd.grad(loss, list(model.members[1].parameters()))
    alone = F.cross_entropy(model.members[1](batch.x, batch.lengths)[0], batch.y)
    for g, e in zip(grads, torch.autograd.grad(alone, list(model.members[1].parameters()))):
        torch.testing.assert_close(g, e)
    assert not torch.equal(model.members[0].head.weight, model.members[1].head.weight)   # own initial weights
    run = tmp_path / "run"
    assert main(["train", "classify", "--data", str(tmp_path / "s.csv"), "--run", str(run), "--ensemble", "2",
                 "--hidden-size", "4", "--max-steps", "3"]) == 0
    assert main(["predict", str(run), "a great film"]) == 0
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ensemble of 2" in err[0]
    with pytest.raises(ValueError, match="ensemble of 3"):
        Stream(model, 1)
