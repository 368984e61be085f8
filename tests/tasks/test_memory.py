"""rnnkit.tasks.memory: the memory task learns adding and runs copy."""
from rnnkit.cli import main


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
