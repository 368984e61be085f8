"""Run folders on disk: config.json, model.safetensors, a resumable checkpoint; every write atomic.

A run folder::

    config.json          task, task config, train config, data meta (vocabulary, labels, scaling)
    model.safetensors    the weights to use (best on validation, else latest)
    checkpoint/          model.safetensors, optimizer.safetensors, trainer.json: the latest step, to resume
    checkpoint.old/      the one before it, used when the latest is damaged
    .lock                held by the process training into the folder
    metrics.csv          one row per logged step
    learning_curve.png   training and validation loss against step

Nothing is pickled. ``checkpoint/`` is written to ``checkpoint.tmp/`` and swapped in by rename, so a
killed run leaves either the old or the new checkpoint, never half of one.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors.torch import load_file, save_file
from safetensors.torch import save as safetensors_bytes

from .errors import UserError


def _test_pause() -> None:
    """``RNNKIT_TEST_WRITE_PAUSE=SECONDS`` stretches every write, so tests can kill a run in the middle of one."""
    pause = os.environ.get("RNNKIT_TEST_WRITE_PAUSE")
    if pause:
        time.sleep(float(pause))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            half = len(data) // 2
            f.write(data[:half])
            f.flush()
            _test_pause()                    # a kill here leaves half a temporary file, never half of ``path``
            f.write(data[half:])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))


def save_model(path: Path, model: torch.nn.Module) -> None:
    """The model's state dict as safetensors, atomically."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write_bytes(Path(path), safetensors_bytes(tensors))


def load_model(path: Path, model: torch.nn.Module) -> torch.nn.Module:
    try:
        state = load_file(str(path))
    except FileNotFoundError:
        raise UserError(f"expected a weights file at {path}; found none") from None
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise UserError(f"expected a safetensors weights file at {path}; could not read it ({e})") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise UserError(f"the weights in {path} do not fit this model: missing {sorted(missing)[:5]}, "
                        f"unexpected {sorted(unexpected)[:5]}")
    return model


def optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors (for safetensors) and JSON (the rest)."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for key, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pid}.{key}"] = value
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for name, value in list(tensors.items()) + list(meta["scalars"].items()):
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(run_dir: Path, model: torch.nn.Module, opt: torch.optim.Optimizer,
                    extra_tensors: dict[str, torch.Tensor], trainer: dict) -> None:
    """Write ``run_dir/checkpoint`` as a whole: to ``checkpoint.tmp`` first, then swapped in by rename."""
    run_dir = Path(run_dir)
    tmp, final, old = run_dir / "checkpoint.tmp", run_dir / "checkpoint", run_dir / "checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    _save_tensors(tmp / "model.safetensors", dict(model.state_dict()))
    _test_pause()
    opt_tensors, opt_meta = optimizer_to_tensors(opt)
    _save_tensors(tmp / "optimizer.safetensors", {**{f"opt.{k}": v for k, v in opt_tensors.items()},
                                                   **{f"extra.{k}": v for k, v in extra_tensors.items()}})
    atomic_write_json(tmp / "trainer.json", {**trainer, "optimizer": opt_meta})   # last: marks tmp complete
    _sync_dir(tmp)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        _test_pause()                        # a kill here leaves checkpoint.old and a complete checkpoint.tmp
    os.replace(tmp, final)
    _sync_dir(run_dir)                       # checkpoint.old stays: the fallback if this one is ever damaged


def _sync_dir(folder: Path) -> None:
    """Make a folder's renames durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_checkpoint(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict]:
    """One checkpoint folder read whole; any damage raises ValueError saying which file."""
    parts = []
    for name in ("model.safetensors", "optimizer.safetensors"):
        try:
            parts.append(load_file(str(folder / name)))
        except Exception as e:  # safetensors raises its own error types for truncated or corrupt files
            raise ValueError(f"{folder / name} is unreadable ({type(e).__name__}: {str(e).splitlines()[0][:80]})") \
                from None
    try:
        trainer = json.loads((folder / "trainer.json").read_text())
        trainer["step"], trainer["optimizer"]["param_groups"]                 # the keys resume reads
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{folder / 'trainer.json'} is unreadable ({type(e).__name__}: {e})") from None
    return parts[0], parts[1], trainer


def load_checkpoint(run_dir: Path, *, warn=None) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict] | None:
    """(model tensors, optimizer+extra tensors, trainer json) of the last complete checkpoint, or None when
    the run has none yet.

    A kill between the two renames of ``save_checkpoint`` leaves the newest complete checkpoint in
    ``checkpoint.tmp`` (its trainer.json is written last) and the previous one in ``checkpoint.old``;
    candidates are tried newest first. A damaged one is reported through ``warn`` (one line) and the
    next one used; when every one present is damaged, a UserError says so."""
    run_dir = Path(run_dir)
    candidates = [run_dir / n for n in ("checkpoint", "checkpoint.old") if (run_dir / n).is_dir()]
    if (run_dir / "checkpoint.tmp" / "trainer.json").exists():         # complete, not yet swapped in
        candidates.insert(1, run_dir / "checkpoint.tmp")
    found, damaged = [], []
    for folder in candidates:
        try:
            found.append(_read_checkpoint(folder))
        except ValueError as e:
            damaged.append(str(e))
            if warn is not None:
                warn(f"rnnkit: warning: skipping a damaged checkpoint: {e}")
    if found:
        return max(found, key=lambda c: c[2]["step"])
    if damaged:
        raise UserError(f"expected a readable checkpoint in {run_dir}; every one is damaged: {damaged[0]}")
    return None


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir/.lock`` while training into it; a second ``rnnkit train`` into the same folder gets a
    clear error. The operating system releases the lock when the process ends, however it ends."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise UserError(f"expected a run folder no other process is training; {run_dir} is being trained by "
                            f"process {holder}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def read_config(run_dir: Path) -> dict:
    """A run folder's config.json, with one clear error when the folder is not a run."""
    path = Path(run_dir) / "config.json"
    if not Path(run_dir).is_dir():
        raise UserError(f"expected a run folder; {run_dir} does not exist")
    if not path.exists():
        raise UserError(f"expected a run folder with config.json; {run_dir} has none")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"expected valid JSON in {path}; {e}") from None
