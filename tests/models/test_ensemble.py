"""rnnkit.models.ensemble: a classifier ensemble reads the mean and each member learns from its own loss."""
import pytest
import torch

import rnnkit as rk


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
