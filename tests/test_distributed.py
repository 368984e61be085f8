"""Scale-out: DDP under torchrun equals one process, a killed rank ends the job and resumes, token files
are memory-mapped in bounded memory, precision and device flags."""
import os
import socket
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from datasets import sentiment_csv, series_csv, text_file
from rnnkit.cli import main
from rnnkit.data.text import read_text
from rnnkit.data.tokens import token_file
from rnnkit.data.vocab import Vocab

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
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


# ------------------------------------------------------------------------------ memory-mapped tokens

@pytest.mark.parametrize("level, body", [("char", "héllo wörld\r\nagain ✓ " * 50), ("byte", "abc\x00\xff" * 99),
                                         ("auto", "\ufeffplain text with a byte-order mark " * 40)])
def test_token_file_equals_the_in_memory_encoding(tmp_path, monkeypatch, level, body):
    path = tmp_path / "t.txt"
    path.write_bytes(body.encode("utf-8") if level != "byte" else body.encode("latin-1"))
    monkeypatch.setattr("rnnkit.data.tokens.CHUNK", 7)                    # chunk borders inside characters
    ids, vocab, got_level = token_file(path, level, cache=tmp_path / "cache")
    text, expected_level = read_text(path, level)
    symbols = list(range(256)) if expected_level == "byte" else sorted(set(text))
    assert got_level == expected_level and vocab == symbols
    assert np.array_equal(np.asarray(ids, dtype=np.int64), np.asarray(Vocab(symbols).encode(text)))
    again, _, _ = token_file(path, level, cache=tmp_path / "cache")        # the second time: the cached map
    assert isinstance(again, np.memmap) and np.array_equal(again, ids)


def test_encoding_a_large_text_keeps_memory_bounded(tmp_path):
    path = tmp_path / "big.txt"
    line = ("The quick brown fox jumps over the lazy dog; ümlaut and ✓ too. " * 16 + "\n").encode()
    with open(path, "wb") as f:
        for _ in range(40 * 2 ** 20 // len(line)):
            f.write(line)
    code = ("import resource, sys; from rnnkit.data.tokens import token_file\n"
            "def hwm():\n"
            "    return int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n"
            "before = hwm(); ids, vocab, level = token_file(sys.argv[1], 'char', cache=__import__('pathlib').Path(sys.argv[2]))\n"
            "print(hwm() - before, len(ids))")
    out = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "cache")], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    grew_kb, n = map(int, out.stdout.split())
    assert n > 39 * 2 ** 20 // 1.2 and grew_kb < 40 * 1024, grew_kb          # less than the 40 MB text itself


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


@CUDA
@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
def test_cuda_paths_equal_cpu(cell):
    import rnnkit as rk
    from rnnkit import kernels
    make = {"lstm": lambda: rk.LSTMCell(8, 16), "gru": lambda: rk.GRUCell(8, 16), "elman": lambda: rk.ElmanCell(8, 16)}
    for variant in (make[cell](), rk.Dropout(make[cell](), state_p=0.3, variational=True).eval()):
        x, lengths = torch.randn(4, 12, 8), torch.tensor([12, 7, 1, 0])
        y, _ = rk.unroll(variant, x, lengths=lengths)
        gpu = variant.to("cuda")
        assert kernels.path_for(gpu, x.cuda()) in ("torch", "generic")
        y_gpu, _ = rk.unroll(gpu, x.cuda(), lengths=lengths)
        assert torch.allclose(y, y_gpu.cpu(), atol=1e-5)


@CUDA
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cuda_mixed_precision_training_steps(tmp_path, precision):
    run = tmp_path / "run"
    assert main(["train", "charlm", "--data", str(text_file(tmp_path / "t.txt")), "--run", str(run), "--max-steps",
                 "6", "--eval-every", "3", "--seq-len", "16", "--device", "cuda", "--precision", precision]) == 0
    assert all(t.dtype == torch.float32 and bool(torch.isfinite(t).all()) for t in checkpoint(run).values())
