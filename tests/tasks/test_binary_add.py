"""The binary-add task: the generator's sums, padding that never counts, and the command line."""
import random

import torch

from rnnkit.cli import main
from rnnkit.models import RecurrentConfig
from rnnkit.tasks.binary_add import BinaryAdd, BinaryAddConfig, batch_of, decode, draw, encode


def test_targets_are_the_sum_bit_by_bit():
    rng = random.Random(0)
    for _ in range(300):
        n = rng.randint(1, 40)
        a, b = rng.randrange(2 ** n), rng.randrange(2 ** n)
        x, y = encode(a, b, n)
        assert x.shape == (n + 1, 2) and y.shape == (n + 1,)
        assert decode(x[:, 0]) == a and decode(x[:, 1]) == b and decode(y) == a + b
        assert x[-1].tolist() == [0.0, 0.0]                                  # the carry's step reads nothing
    a_s, b_s, ns = draw(200, 1, 40, torch.Generator().manual_seed(3))
    assert min(ns) >= 1 and max(ns) <= 40 and len(set(ns)) > 20
    batch = batch_of(a_s, b_s, ns)
    assert batch.lengths.tolist() == [n + 1 for n in ns] and batch.x.shape == (200, max(ns) + 1, 2)
    for i in range(200):
        assert decode(batch.y[i]) == a_s[i] + b_s[i] and a_s[i] < 2 ** ns[i] and b_s[i] < 2 ** ns[i]


def test_padding_never_counts():
    task = BinaryAdd.prepare(BinaryAddConfig(valid_size=20), RecurrentConfig(cell="elman", hidden_size=8), None)
    torch.manual_seed(0)
    model = task.build_model()
    batch = task.train_batch(0, 16)
    padded = batch_of(*draw(16, 1, 8, torch.Generator().manual_seed(1)))    # a batch with lengths of its own
    T = batch.x.shape[1]
    padded.x = torch.cat([batch.x, torch.rand(16, 7, 2)], 1)                 # 7 more steps of junk
    padded.y = torch.cat([batch.y, torch.ones(16, 7)], 1)
    padded.lengths = batch.lengths
    assert padded.x.shape[1] == T + 7
    loss, _, _ = task.loss(model, batch, None)
    loss_padded, _, _ = task.loss(model, padded, None)
    torch.testing.assert_close(loss, loss_padded)
    assert task.scores(model, batch)[1:] == task.scores(model, padded)[1:]


def test_train_predict_and_bad_input(tmp_path, capsys):
    run = str(tmp_path / "r")
    assert main(["train", "binary-add", "--run", run, "--max-steps", "20", "--no-tensorboard"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    for metric in ("sum_accuracy", "bit_accuracy", "sum_accuracy_8", "sum_accuracy_16", "sum_accuracy_32"):
        assert f" {metric} " in last, last
    assert main(["predict", run, "5+3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "read as decimal: 101 + 11 = 5 + 3" and lines[2] == "sum:   1000 = 8"
    bits, value = lines[1].removeprefix("model: ").split(" = ")
    assert len(bits) == 4 and int(bits, 2) == int(value)                     # n + 1 bits, most significant first
    assert lines[3] == ("right" if bits == "1000" else lines[3]) and lines[3].startswith(("right", "WRONG at bit"))
    assert main(["predict", run, "1011+110"]) == 0
    assert capsys.readouterr().out.splitlines()[2] == "sum:   10001 = 17"
    for bad in ("5+", "5-3", "x+1", "1.5+2", "1+2+3"):
        assert main(["predict", run, bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("rnnkit: error: expected two non-negative whole numbers"), err
    assert main(["train", "binary-add", "--min-bits", "9", "--run", str(tmp_path / "bad")]) == 2
    assert capsys.readouterr().err.strip() == "rnnkit: error: expected --min-bits at most --max-bits; received 9 > 8"
