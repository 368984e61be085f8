"""rnnkit.tasks.lm_transfer: --init-from loads a language model's weights into a classifier, ULMFiT's
discriminative rates and gradual unfreezing, and the refusals."""
import pytest
import torch


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
