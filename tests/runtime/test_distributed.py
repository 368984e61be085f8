"""rnnkit.runtime.distributed: DDP under torchrun equals one process, a killed rank ends the job and resumes,
precision and device flags."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from datasets import sentiment_csv, series_csv, text_file
from rnnkit.cli import main

pytestmark = pytest.mark.slow

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def free_port() -> int:
    """A port no one listens on now: one fixed port for every torchrun of a session can still be held by the last
    job's store (TIME_WAIT, a rank exiting) when the next job binds it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*argv, nproc=2, wait=True):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--master-port",
           str(free_port()), "-m", "rnnkit", *map(str, argv)]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)


def checkpoint(run: Path) -> dict:
    return load_file(str(run / "checkpoint" / "model.safetensors"))


TASKS = {
    "charlm": lambda tmp: ["--data", text_file(tmp / "t.txt"), "--dropout", "0", "--seq-len", "16"],
    # dropout masks are drawn per rank (rank 0's are a single process's), so the comparison turns dropout off
    "classify": lambda tmp: ["--data", sentiment_csv(tmp / "c.csv"), "--dropout", "0", "--embed-dropout", "0"],
    "classify-ensemble": lambda tmp: ["--data", sentiment_csv(tmp / "c.csv"), "--dropout", "0", "--embed-dropout", "0",
                                      "--ensemble", "2"],                    # each member learns from its own loss
    "forecast": lambda tmp: ["--data", series_csv(tmp / "s.csv")],
}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_two_processes_with_half_the_batch_equal_one_with_all_of_it(tmp_path, task):
    args = ["train", task.split("-")[0], *TASKS[task](tmp_path), "--max-steps", "20", "--eval-every", "10", "--hidden-size", "16",
            "--batch-size", "8", "--seed", "2"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                 # as each torchrun rank (ENV): the same order of float sums
    try:
        assert main([*map(str, args), "--run", str(tmp_path / "one")]) == 0
    finally:
        torch.set_num_threads(threads)
    two = torchrun(*args, "--run-dir", tmp_path / "two")
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = checkpoint(tmp_path / "one"), checkpoint(tmp_path / "two")
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-5


def _rank_pids(parent: int) -> dict[int, int]:
    """rank -> pid of the workers torchrun started (read from their environments)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"rnnkit" not in cmdline or int(entry.name) == parent:
            continue
        values = dict(v.split(b"=", 1) for v in env if b"=" in v)
        if values.get(b"TORCHELASTIC_RUN_ID") is not None and b"RANK" in values:
            found[int(values[b"RANK"])] = int(entry.name)
    return found


def test_a_killed_rank_ends_the_job_and_resume_under_torchrun_continues_exactly(tmp_path):
    args = ["train", "charlm", *TASKS["charlm"](tmp_path), "--max-steps", "40", "--eval-every", "5",
            "--hidden-size", "16", "--batch-size", "8", "--seed", "4"]
    reference = torchrun(*args, "--run-dir", tmp_path / "ref")
    assert reference.returncode == 0, reference.stderr[-3000:]
    run = tmp_path / "run"
    job = torchrun(*args, "--run-dir", run, wait=False)
    deadline = time.time() + 60
    while time.time() < deadline and not (run / "checkpoint" / "trainer.json").exists():
        time.sleep(0.2)
    pids = _rank_pids(job.pid)
    assert 1 in pids, pids
    os.kill(pids[1], signal.SIGKILL)
    out, err = job.communicate(timeout=120)                                 # ends, never hangs
    assert job.returncode != 0
    assert (run / "checkpoint" / "trainer.json").exists()
    resumed = torchrun(*args, "--run-dir", run, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = checkpoint(run), checkpoint(tmp_path / "ref")
    assert all(torch.equal(a[k], b[k]) for k in a), max(float((a[k] - b[k]).abs().max()) for k in a)


# ------------------------------------------------------------------------------ precision and devices

def test_bf16_training_keeps_float32_weights_and_checkpoints(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "classify", "--data", str(sentiment_csv(tmp_path / "c.csv")), "--run", str(run),
                 "--max-steps", "4", "--eval-every", "2", "--hidden-size", "16", "--precision", "bf16"]) == 0
    weights = checkpoint(run)
    assert all(t.dtype == torch.float32 for t in weights.values())


def test_device_that_is_not_there_gets_one_line(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code = main(["train", "classify", "--data", str(sentiment_csv(tmp_path / "c.csv")), "--run", str(tmp_path / "r"),
                 "--device", "cuda"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "expected a CUDA GPU" in err[0]
    assert main(["train", "classify", "--data", str(tmp_path / "c.csv"), "--device", "tpu"]) == 2
