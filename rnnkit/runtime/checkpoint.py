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
import secrets
import shutil
import time
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from ..errors import DiskFull, UserError, disk_full_errno


def _test_pause() -> None:
    """``RNNKIT_TEST_WRITE_PAUSE=SECONDS`` stretches every write, so tests can kill a run in the middle of one."""
    pause = os.environ.get("RNNKIT_TEST_WRITE_PAUSE")
    if pause:
        time.sleep(float(pause))


def _write(f, data: bytes) -> None:
    """Write ``data`` to an open temporary file (in two halves, so tests can kill a run between them)."""
    half = len(data) // 2
    f.write(data[:half])
    f.flush()
    _test_pause()                            # a kill here leaves half a temporary file, never half of ``path``
    f.write(data[half:])


def _new_temporary(path: Path) -> str:
    """A new empty file beside ``path``, named for it; its mode follows the umask, as a plain open's would
    (``tempfile.mkstemp`` makes every file private)."""
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


@contextlib.contextmanager
def atomic_file(path: Path, *, size: int | None = None) -> Iterator[BinaryIO]:
    """An open temporary file in ``path``'s folder that becomes ``path`` (``os.replace``) when the block ends
    without an error; on any error it is removed and ``path`` keeps its previous contents.

    Every file rnnkit writes goes through here. A write that fails for lack of space (ENOSPC, EDQUOT, or a
    library's error saying so) raises ``DiskFull``: one line naming ``path``, ``size`` (the bytes being
    written, where known) and the bytes free."""
    path = Path(path)
    tmp = None
    try:
        tmp = _new_temporary(path)
        with open(tmp, "wb") as f:                            # f.name: the temporary path
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        code = disk_full_errno(e)
        if code is None or isinstance(e, DiskFull):
            raise
        raise DiskFull(path, size, code=code) from None


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    with atomic_file(path, size=len(data)) as f:
        _write(f, data)


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, _json_bytes(obj))


def _tensor_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    """A safetensors file in memory: its exact size is known before a byte reaches the disk, and the one
    writer above reports a full disk (safetensors' own writer raises a SafetensorError instead)."""
    return safetensors_bytes({k: v.detach().contiguous().cpu() for k, v in tensors.items()})


def save_model(path: Path, model: torch.nn.Module) -> None:
    """The model's state dict as safetensors, atomically."""
    atomic_write_bytes(Path(path), _tensor_bytes(dict(model.state_dict())))


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
    """Write ``run_dir/checkpoint`` as a whole: to ``checkpoint.tmp`` first, then swapped in by rename.
    A write that fails leaves no ``checkpoint.tmp``; for lack of space, ``DiskFull`` names the checkpoint
    and the bytes all of it needs."""
    run_dir = Path(run_dir)
    tmp, final, old = run_dir / "checkpoint.tmp", run_dir / "checkpoint", run_dir / "checkpoint.old"
    model_bytes = _tensor_bytes(dict(model.state_dict()))
    opt_tensors, opt_meta = optimizer_to_tensors(opt)
    opt_bytes = _tensor_bytes({**{f"opt.{k}": v for k, v in opt_tensors.items()},
                               **{f"extra.{k}": v for k, v in extra_tensors.items()}})
    trainer = {**trainer, "optimizer": opt_meta}
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        atomic_write_bytes(tmp / "model.safetensors", model_bytes)
        _test_pause()
        atomic_write_bytes(tmp / "optimizer.safetensors", opt_bytes)
        atomic_write_json(tmp / "trainer.json", trainer)               # last: marks tmp complete
        _sync_dir(tmp)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        code = disk_full_errno(e)
        if code is None:
            raise
        needed = len(model_bytes) + len(opt_bytes) + len(_json_bytes(trainer))
        raise DiskFull(final, needed, code=code) from None
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
        with contextlib.suppress(OSError):   # the holder's id is for the message above; a full disk may refuse it
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
