"""A full disk: one line naming the path and the bytes, exit status 2, nothing lost or half-written, and
``--resume`` finishes once there is room again."""
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
from rnnkit.cli import main
from rnnkit.errors import DiskFull

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


def enospc(f, data):
    f.write(data[: len(data) // 3])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def unchanged_after_a_full_disk(path: Path, write, monkeypatch) -> DiskFull:
    """Run ``write`` with the disk full: it raises DiskFull naming ``path``; ``path`` and its folder are as before."""
    before = {p.name: p.read_bytes() for p in path.parent.iterdir() if p.is_file()}
    with monkeypatch.context() as m:
        m.setattr(ck, "_write", enospc)
        with pytest.raises(DiskFull) as caught:
            write()
    assert {p.name: p.read_bytes() for p in path.parent.iterdir() if p.is_file()} == before
    assert f"out of disk space writing {path} (needed " in str(caught.value)
    return caught.value


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


def test_torch_export_writer(tmp_path, monkeypatch):
    import rnnkit as rk
    from rnnkit.export.torch import export_step_program

    program = tmp_path / "gru.pt2"
    unchanged_after_a_full_disk(program, lambda: export_step_program(rk.GRUCell(3, 4).eval(), program), monkeypatch)


def test_onnx_writer(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    import rnnkit as rk
    from rnnkit.export.onnx import export_step

    onnx_file = tmp_path / "gru.onnx"
    unchanged_after_a_full_disk(onnx_file, lambda: export_step(rk.GRUCell(3, 4).eval(), onnx_file), monkeypatch)


class FullAfter:
    """A file that takes ``room`` bytes, then says the disk is full."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def write(self, data):
        if len(data) > self.room:
            self.f.write(bytes(data)[: self.room])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)


@pytest.mark.parametrize("full_at", ["ids.bin", "meta.json"])
def test_token_cache(tmp_path, monkeypatch, full_at):
    import rnnkit.data.tokens as tokens

    text = tmp_path / "t.txt"
    text.write_text("abcab" * 100)
    cache = tmp_path / "cache"
    real_file = ck.atomic_file

    @contextlib.contextmanager
    def full(path, **kw):
        with real_file(path, **kw) as f:
            yield FullAfter(f, 10) if path.name == full_at else f

    with monkeypatch.context() as m:
        m.setattr(tokens, "atomic_file", full)
        m.setattr(ck, "atomic_file", full)
        with pytest.raises(DiskFull) as caught:
            tokens.token_file(text, "auto", cache=cache)
    line = str(caught.value)
    assert line.startswith(f"out of disk space writing {cache / 'tokens'}") and "ids.bin (needed 500 B, " in line
    assert "RNNKIT_CACHE" in line
    assert not any(p.is_file() for p in cache.rglob("*"))        # nothing half-written, nothing left taking room
    ids, vocab, level = tokens.token_file(text, "auto", cache=cache)     # room again
    assert ids.tolist()[:5] == [0, 1, 2, 0, 1] and vocab == ["a", "b", "c"] and len(ids) == 500


def test_fetch_cache_full_goes_through_the_cli_handler(tmp_path, monkeypatch, capsys):
    """rnnkit/data/fetch.py writes with plain write_text: its ENOSPC reaches the CLI's handler, which names
    the cache, and the cache keeps no half-unpacked dataset."""
    import rnnkit.data.fetch as fetch

    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))

    def pip_download(cmd, **kw):
        folder = Path(cmd[cmd.index("-d") + 1])
        folder.mkdir(parents=True)
        (folder / "statsmodels-0-py3-none-any.whl").write_bytes(b"")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    def unpack(archive, target):
        with open(target / "sunspots.csv", "w") as f:
            f.write("YEAR,SUNACTIVITY\n")
            f.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fetch.subprocess, "run", pip_download)
    monkeypatch.setitem(fetch.DATASETS, "sunspots", fetch.Dataset("test", "statsmodels", True, unpack))
    capsys.readouterr()
    assert main(["data", "fetch", "sunspots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("fetching sunspots") and len(err) == 2, err     # its progress line, then the error
    line = err[1]
    assert f"out of disk space writing {tmp_path / 'cache'}" in line, line
    assert list((tmp_path / "cache").iterdir()) == []
