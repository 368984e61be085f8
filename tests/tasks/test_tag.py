"""rnnkit.tasks.tag: padding never counts in the loss or the scores, and a tiny run through the command line
(train, predict, eval, the test file)."""
import json

import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.padding import pad_sequences
from rnnkit.models import RecurrentConfig
from rnnkit.tasks.tag import PAD_TAG, UNSEEN_TAG, Tag, TagConfig, tag_loss
from datasets import conllu_file

pytestmark = pytest.mark.slow



def tiny_task(tmp_path, **cfg) -> Tag:
    torch.manual_seed(0)
    return Tag.prepare(TagConfig(**cfg), RecurrentConfig(hidden_size=8, bidirectional=True),
                       str(conllu_file(tmp_path / "tiny.conllu")), seed=0)


# ------------------------------------------------------------------------------ padding never counts


@pytest.mark.parametrize("affixes", [0, 2])
def test_a_sentence_in_a_padded_batch_scores_as_it_does_alone(tmp_path, affixes):
    task = tiny_task(tmp_path, affixes=affixes, min_count=1)
    model = task.build_model().double().eval()
    xs, ys = task.train_x[:6], task.train_y[:6]
    assert len({len(x) for x in xs}) > 1                       # the batch really pads
    x, lengths = pad_sequences(xs)
    y, _ = pad_sequences(ys, padding_value=PAD_TAG)
    logits, _ = model(x, lengths)                                                   # (B, T, C)
    for b in range(len(xs)):
        alone, _ = model(xs[b].unsqueeze(0), torch.tensor([len(xs[b])]))
        n = len(xs[b])
        torch.testing.assert_close(logits[b, :n], alone[0])
        assert torch.equal(logits[b, :n].argmax(-1), alone[0].argmax(-1))
        torch.testing.assert_close(tag_loss(logits[b:b + 1], y[b:b + 1], "sum"), tag_loss(alone, ys[b][None], "sum"))
    # the batch's summed loss is the sum of the sentences' own, whatever the logits at the padding say
    noisy = torch.where((y == PAD_TAG).unsqueeze(-1), torch.randn_like(logits) * 1e3, logits)
    total = sum(tag_loss(model(xs[b][None], torch.tensor([len(xs[b])]))[0], ys[b][None], "sum") for b in range(6))
    torch.testing.assert_close(tag_loss(noisy, y, "sum"), total)
    torch.testing.assert_close(tag_loss(noisy, y), total / int(lengths.sum()))


def test_training_batches_put_the_ignored_target_exactly_at_the_padding(tmp_path):
    task = tiny_task(tmp_path)
    batch = task.train_batch(0, 8)
    live = torch.arange(batch.y.shape[1]) < batch.lengths.unsqueeze(1)
    assert bool((batch.y[~live] == PAD_TAG).all()) and bool((batch.y[live] >= 0).all())
    assert batch.x.shape == (*batch.y.shape, 1 + 2 * task.cfg.affixes)
    loss, _, words = task.loss(task.build_model(), batch, None)
    assert words == int(batch.lengths.sum()) and torch.isfinite(loss)


def test_accuracy_counts_every_word_once_and_no_padding(tmp_path):
    task = tiny_task(tmp_path)
    model = task.build_model().eval()
    xs, ys = task.valid_x, task.valid_y
    scores = task._scores(model, xs, ys)
    # by hand, one sentence at a time (nothing padded), and in chunks of 1 and 3 sentences
    right = sum(int((model(x[None], torch.tensor([len(x)]))[0][0].argmax(-1) == y).sum()) for x, y in zip(xs, ys))
    assert scores["accuracy"] == pytest.approx(right / sum(len(y) for y in ys))
    for chunk in (1, 3):
        preds = torch.cat([z.argmax(-1) for z in task.tag(model, xs, chunk=chunk)])
        assert (preds == torch.cat(ys)).double().mean().item() == pytest.approx(scores["accuracy"])
    assert 0 <= scores["macro_f1"] <= 1 and scores["loss"] > 0


def test_a_gold_tag_never_seen_in_training_is_wrong_and_costs_no_loss(tmp_path):
    task = tiny_task(tmp_path)
    model = task.build_model().eval()
    sentences = [(["the", "cat", "sat", "."], ["DET", "NOUN", "SCONJ", "PUNCT"])]
    xs, ys = task.encode(sentences)
    assert ys[0].tolist()[2] == UNSEEN_TAG
    logits = task.tag(model, xs)[0]
    scores = task._scores(model, xs, ys)
    right = int((logits.argmax(-1)[[0, 1, 3]] == ys[0][[0, 1, 3]]).sum())
    assert scores["accuracy"] == pytest.approx(right / 4)
    assert scores["loss"] == pytest.approx(tag_loss(logits[[0, 1, 3]][None], ys[0][[0, 1, 3]][None]).item(), rel=1e-5)


# ------------------------------------------------------------------------------ the command line


def test_train_predict_eval_through_the_command_line(tmp_path, capsys):
    folder = tmp_path / "tb"
    folder.mkdir()
    conllu_file(folder / "toy-ud-train.conllu", n=40, seed=0)
    conllu_file(folder / "toy-ud-dev.conllu", n=8, seed=1)
    conllu_file(folder / "toy-ud-test.conllu", n=8, seed=2)
    run = tmp_path / "run"
    assert main(["train", "tag", "--data", str(folder), "--run", str(run), "--max-steps", "5", "--eval-every", "5",
                 "--hidden-size", "8", "--embed-size", "8", "--affix-size", "4"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2].startswith("final validation (tag, step 5): accuracy ") and out[-1].startswith("test (tag, ")
    for f in ("config.json", "model.safetensors", "metrics.csv", "test_metrics.json"):
        assert (run / f).exists(), f
    meta = json.loads((run / "config.json").read_text())["meta"]
    assert meta["valid"].endswith("toy-ud-dev.conllu") and meta["test"].endswith("toy-ud-test.conllu")
    assert json.loads((run / "test_metrics.json").read_text())["test"].endswith("toy-ud-test.conllu")
    # a resumed run reads the same folder: the same dev file chooses the weights, the test file is scored again
    assert main(["train", "tag", "--run", str(run), "--resume", "--max-steps", "7"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2].startswith("final validation (tag, step 7)") and "toy-ud-test.conllu" in out[-1]
    assert json.loads((run / "config.json").read_text())["meta"] == meta

    assert main(["predict", str(run), "the big zebra ran ."]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["the", "big", "zebra", "ran", "."]
    assert all(line.split("\t")[1] in meta["labels"] for line in lines)
    sentences = tmp_path / "in.txt"
    sentences.write_text("the cat sat .\na dog ran .\n")
    assert main(["predict", str(run), str(sentences)]) == 0
    assert capsys.readouterr().out.split("\n\n")[1].startswith("a\t")

    assert main(["eval", str(run), "--data", str(folder / "toy-ud-test.conllu")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].split() == ["tag", "precision", "recall", "f1", "support"] and "accuracy" in out[-1]

    for what in ("sequence", "step"):           # several ids a step: refused in one line, no file written
        assert main(["export", str(run), "--what", what, "--out", str(tmp_path / f"{what}.onnx")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--affixes 0" in err[0] and not (tmp_path / f"{what}.onnx").exists()


def test_a_single_file_holds_out_a_seeded_share(tmp_path, capsys):
    data = conllu_file(tmp_path / "tiny.conllu", n=40)
    run = tmp_path / "run"
    assert main(["train", "tag", "--data", str(data), "--run", str(run), "--max-steps", "5",
                 "--hidden-size", "8", "--affixes", "0", "--no-bidirectional"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["meta"]["held_out"] == 0.1 and not (run / "test_metrics.json").exists()
    assert config["model"]["bidirectional"] is False
    task = Tag.prepare(TagConfig(affixes=0), RecurrentConfig(), str(data), seed=config["seed"])
    again = Tag(TagConfig(affixes=0), RecurrentConfig(), config["meta"], seed=config["seed"])
    again.load_eval_data(None)                          # `rnnkit eval RUN` re-splits the same sentences out
    assert [x.tolist() for x in again.valid_x] == [x.tolist() for x in task.valid_x] and len(task.valid_x) == 4
