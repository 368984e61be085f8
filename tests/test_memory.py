"""The memory task: copy and adding problems from the command line."""
import math

import torch

from rnnkit.cli import main
from rnnkit.data.memory import adding_batch, copy_baseline, copy_batch


def test_problems_are_what_they_say():
    g = torch.Generator().manual_seed(1)
    x, y = copy_batch(4, 30, g)
    assert torch.equal(y[:, -10:], x[:, :10]) and bool((x[:, 10:39] == 0).all()) and bool((x[:, 39] == 9).all())
    assert math.isclose(copy_baseline(30), 10 * math.log(8) / 50)
    x, y = adding_batch(5, 12, g)
    marked = x[:, :, 1] == 1
    assert bool((marked[:, :6].sum(1) == 1).all()) and bool((marked[:, 6:].sum(1) == 1).all())
    torch.testing.assert_close(y[:, 0], (x[:, :, 0] * x[:, :, 1]).sum(1))


def test_memory_task_learns_adding_and_runs_copy(tmp_path, capsys):
    assert main(["train", "memory", "--problem", "adding", "--lag", "6", "--max-steps", "300", "--hidden-size", "16",
                 "--lr", "1e-2", "--eval-every", "300", "--run", str(tmp_path / "add")]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    ratio = float(line.split("ratio ")[1].split()[0])
    assert ratio < 0.2, line                                               # far below the no-memory baseline
    assert main(["train", "memory", "--problem", "copy", "--lag", "5", "--max-steps", "3", "--hidden-size", "8",
                 "--cell", "mingru", "--run", str(tmp_path / "copy")]) == 0
    assert "recalled" in capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["eval", str(tmp_path / "copy")]) == 0
    assert main(["train", "memory", "--data", "x.txt", "--run", str(tmp_path / "bad")]) == 2
    assert "expected no --data" in capsys.readouterr().err
