"""rnnkit.runtime.checkpoint: a full disk is one line naming the path and the bytes, nothing is lost or
half-written, and ``--resume`` finishes once there is room again; the atomic writers; the checkpoint round
trip and swap; a damaged checkpoint is skipped; a run folder being trained is locked."""
import contextlib
import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

import rnnkit.runtime.checkpoint as ck
from datasets import text_file
from rnnkit.cli import main
from rnnkit.errors import DiskFull
from rnnkit.runs import open_run
from rnnkit.runtime.checkpoint import load_checkpoint, load_model, run_lock, save_model
from rnnkit.runtime.train import TrainConfig
from faults import unchanged_after_a_full_disk
from fitting import fit_run, make_task

pytestmark = pytest.mark.slow

ARGS = ["--hidden-size", "40", "--valid-strings", "20", "--samples", "5", "--batch-size", "4", "--eval-every", "2"]
ENOSPC_TEXT = "Error while serializing: I/O error: No space left on device (os error 28)"   # safetensors' words


def train(run: Path, *more) -> int:
    return main(["train", "reber", "--run", str(run), "--max-steps", "8", *ARGS, *more])


def files(run: Path) -> dict[str, bytes]:
    """Every file of a run folder but the lock (and a checkpoint being staged), by relative path."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.name != ".lock" and "checkpoint.tmp" not in p.parts}


def leftovers(run: Path) -> list[str]:
    return [str(p) for p in run.rglob("*") if p.name.endswith(".tmp") or p.name == "checkpoint.tmp"]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnkit: error: "), err
    return err[0]


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), SafetensorError(ENOSPC_TEXT)],
                         ids=["ENOSPC", "SafetensorError"])
def test_disk_full_at_a_checkpoint_keeps_the_last_one_and_resume_finishes(tmp_path, monkeypatch, capsys, error):
    reference = tmp_path / "reference"
    assert train(reference) == 0
    run, real_write, seen, at_failure = tmp_path / "run", ck._write, [], {}

    def write(f, data):              # the second checkpoint's optimizer file: half of it, then the disk is full
        if Path(f.name).parent.name == "checkpoint.tmp" and Path(f.name).name.startswith(".optimizer"):
            seen.append(f.name)
            if len(seen) == 2:
                at_failure.update(files(run))
                f.write(data[: len(data) // 2])
                raise error
        real_write(f, data)

    monkeypatch.setattr(ck, "_write", write)
    capsys.readouterr()
    assert train(run) == 2
    line = one_error_line(capsys)
    assert f"writing {run / 'checkpoint'} (needed " in line and "space" in line and " free)" in line, line
    assert line.endswith("run again with --resume"), line
    assert files(run) == at_failure and leftovers(run) == []      # the step-2 checkpoint and the model, byte for byte
    assert ck.load_checkpoint(run)[2]["step"] == 2

    monkeypatch.setattr(ck, "_write", real_write)                 # room again
    assert train(run, "--resume") == 0
    assert ck.load_checkpoint(run)[2]["step"] == 8
    for name in ("checkpoint/model.safetensors", "checkpoint/optimizer.safetensors", "model.safetensors"):
        assert (run / name).read_bytes() == (reference / name).read_bytes(), name   # as if never interrupted


@pytest.fixture
def small_disk(tmp_path):
    """A 300 KB tmpfs, where this process may mount one; skipped (with the reason) elsewhere."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_training_into_a_small_filesystem_until_it_fills(small_disk, monkeypatch, capsys):
    run, real_file, at_failure = small_disk / "run", ck.atomic_file, []

    @contextlib.contextmanager
    def watched(path, **kw):         # the run folder as it is when a real write fails
        try:
            with real_file(path, **kw) as f:
                yield f
        except DiskFull:
            at_failure.append(files(run))
            raise

    monkeypatch.setattr(ck, "atomic_file", watched)
    capsys.readouterr()
    assert train(run, "--max-steps", "12") == 2
    line = one_error_line(capsys)
    assert f"writing {run}" in line and "out of disk space" in line and "(needed " in line, line
    assert at_failure and files(run) == at_failure[0] and leftovers(run) == []
    step = ck.load_checkpoint(run)[2]["step"]                     # whole, and no damaged one skipped
    assert step >= 2, "the filesystem filled before the first checkpoint: give the tmpfs more room"
    assert load_file(str(run / "model.safetensors"))

    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)   # free space
    assert train(run, "--max-steps", "12", "--resume") == 0
    assert ck.load_checkpoint(run)[2]["step"] == 12 and leftovers(run) == []


# ------------------------------------------------------------------------------ every other writer


def test_json_png_and_model_writers(tmp_path, monkeypatch):
    from rnnkit.tools.figures import attention_figure

    target = tmp_path / "metrics.json"
    ck.atomic_write_json(target, {"old": 1})
    e = unchanged_after_a_full_disk(target, lambda: ck.atomic_write_json(target, {"new": list(range(100))}),
                                    monkeypatch)
    assert e.needed == len(ck._json_bytes({"new": list(range(100))}))
    png = tmp_path / "attention.png"
    unchanged_after_a_full_disk(png, lambda: attention_figure([(["a", "b"], ["c"], torch.rand(1, 2))], png),
                                monkeypatch)
    weights = tmp_path / "model.safetensors"
    ck.save_model(weights, torch.nn.Linear(3, 2))
    unchanged_after_a_full_disk(weights, lambda: ck.save_model(weights, torch.nn.Linear(30, 20)), monkeypatch)



def test_checkpoint_round_trip_and_run_folder_rebuilds_alone(tmp_path):
    from safetensors.torch import load_file
    task = make_task(tmp_path, "reber", model={"hidden_size": 8}, valid_strings=20, samples=5)
    run = tmp_path / "r"
    model = fit_run(task, run, TrainConfig(steps=4, eval_every=2))
    model_t, opt_t, trainer = load_checkpoint(run)                 # the latest step, for resuming
    assert trainer["step"] == 4 and any(k.startswith("opt.") for k in opt_t)
    assert all(torch.equal(model_t[k], v) for k, v in model.state_dict().items())
    task2, model2 = open_run(run)                                  # the best weights, from the folder alone
    best = load_file(str(run / "model.safetensors"))
    assert all(torch.equal(best[k], v) for k, v in model2.state_dict().items())
    save_model(tmp_path / "copy.safetensors", model2)
    again = load_model(tmp_path / "copy.safetensors", task2.build_model())
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model2.state_dict().values()))


def test_checkpoint_swap_keeps_the_old_one_when_a_write_dies(tmp_path, monkeypatch):
    task = make_task(tmp_path, "reber", model={"hidden_size": 8}, valid_strings=20, samples=5)
    run = tmp_path / "r"
    fit_run(task, run, TrainConfig(steps=2, eval_every=2))
    import rnnkit.runtime.checkpoint as ck

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(ck, "atomic_write_json", boom)
    with pytest.raises(OSError):
        ck.save_checkpoint(run, task.build_model(), torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1), {}, {})
    assert load_checkpoint(run)[2]["step"] == 2                    # the complete old checkpoint is still there


TINY = ["--hidden-size", "12", "--embed-size", "8", "--seq-len", "16", "--batch-size", "4"]


def weights(run: Path) -> dict:
    return load_file(str(run / "checkpoint" / "model.safetensors"))


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_damaged_checkpoint_is_reported_and_the_previous_one_used(tmp_path, capsys):
    data = text_file(tmp_path / "t.txt")
    run = tmp_path / "run"
    args = ["train", "charlm", "--data", str(data), "--run", str(run), "--eval-every", "2", "--seed", "1", *TINY]
    assert main([*args, "--max-steps", "4"]) == 0
    reference = tmp_path / "ref"
    assert main(["train", "charlm", "--data", str(data), "--run", str(reference), "--eval-every", "2", "--seed", "1",
                 "--max-steps", "6", *TINY]) == 0
    damaged = run / "checkpoint" / "model.safetensors"
    damaged.write_bytes(damaged.read_bytes()[:100])                        # truncated
    capsys.readouterr()
    assert main([*args, "--max-steps", "6", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "skipping a damaged checkpoint" in err and "Traceback" not in err
    assert same(weights(run), weights(reference))
    for name in ("checkpoint", "checkpoint.old"):                          # nothing usable left: one clear error
        path = run / name / "optimizer.safetensors"
        path.write_bytes(b"not a safetensors file")
    assert main([*args, "--max-steps", "8", "--resume"]) == 2
    assert "every one is damaged" in capsys.readouterr().err.strip().splitlines()[-1]


def test_a_second_train_into_a_folder_being_trained_is_refused(tmp_path, capsys):
    data = text_file(tmp_path / "t.txt")
    run = tmp_path / "run"
    assert main(["train", "charlm", "--data", str(data), "--run", str(run), "--max-steps", "2", *TINY]) == 0
    with run_lock(run):
        capsys.readouterr()
        assert main(["train", "charlm", "--run", str(run), "--resume"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "being trained by process" in err[0]
