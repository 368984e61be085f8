"""LSTM-CNN for texts: the convolutional branch never sees padding (a text in a padded batch gives the outputs and
gradients it gives alone), the flag builds it for texts and refuses series with one line."""
import json
from dataclasses import replace

import pytest
import torch

from rnnkit.cli import main
from rnnkit.models import LSTMCNN, RecurrentConfig, TokenCNN
from rnnkit.tasks import TASKS


@pytest.mark.parametrize("train", [False, True])
def test_a_text_in_a_padded_batch_is_read_as_alone(train):
    torch.manual_seed(0)
    m = LSTMCNN(RecurrentConfig(hidden_size=6, bidirectional=True), vocab_size=30, embed_size=5, output_size=3,
                readout="max", filters=4)
    m.train(train)
    m.dropout.p = 0.0                                         # dropout masks differ between two calls
    texts = [torch.randint(1, 30, (n,)) for n in (9, 2, 5)]   # 2: shorter than every width
    x = torch.zeros(3, 12, dtype=torch.long)
    for i, t in enumerate(texts):
        x[i, :len(t)] = t
    lengths = torch.tensor([len(t) for t in texts])
    batch, _ = m(x, lengths)
    batch.sum().backward()
    together = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
    m.zero_grad()
    alone = torch.cat([m(t[None], torch.tensor([len(t)]))[0] for t in texts])
    alone.sum().backward()
    torch.testing.assert_close(batch, alone, rtol=1e-5, atol=1e-6)
    for n, p in m.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(together[n], p.grad, rtol=1e-4, atol=1e-6, msg=n)


def test_the_pool_is_the_maximum_over_positions_inside_the_text():
    cnn = TokenCNN(3, widths=(2,), filters=4)
    x = torch.randn(1, 5, 3)
    got = cnn(x, torch.tensor([5]))
    h = torch.relu(cnn.convs[0](x.transpose(1, 2)))          # (1, 4, 4): every position lies inside
    torch.testing.assert_close(got, h.amax(-1))


def write_texts(path, n=40):
    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(n):
        letters = "abc" if i % 2 else "xyz"
        text = "".join(letters[k] for k in torch.randint(0, 3, (int(torch.randint(3, 40, (1,), generator=g)),),
                                                         generator=g).tolist())
        rows.append(json.dumps({"text": text, "label": f"c{i % 2}"}))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_the_flag_builds_it_for_texts(tmp_path):
    Classify = TASKS["classify"]
    task = Classify.prepare(replace(Classify.Config(), tokens="char", model="lstm-cnn"), RecurrentConfig(),
                            str(write_texts(tmp_path / "t.jsonl")), seed=0)
    model = task.build_model()
    assert isinstance(model, LSTMCNN) and model.cnn.widths == (3, 5, 7)
    logits = task.logits(model, task.valid_x)
    assert logits.shape == (len(task.valid_x), 2)


def test_the_text_family_refuses_series(tmp_path, capsys):
    from datasets import ts_folder
    folder = ts_folder(tmp_path / "gp")
    code = main(["train", "classify", "--data", str(folder), "--run", str(tmp_path / "run"), "--model", "lstm-cnn"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "lstm-cnn is for text data" in err[0]


def test_export_refuses_it_in_one_line(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "classify", "--data", str(write_texts(tmp_path / "t.jsonl")), "--tokens", "char",
                 "--run", str(run), "--max-steps", "2", "--eval-every", "2"]) == 0      # characters: LSTM-CNN
    capsys.readouterr()
    for what in ("sequence", "step"):
        assert main(["export", str(run), "--what", what, "--out", str(tmp_path / f"{what}.onnx")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "convolutional branch over the whole sequence (LSTM-CNN)" in err[0]
        assert not (tmp_path / f"{what}.onnx").exists()
