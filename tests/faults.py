"""A full disk, simulated: the checkpoint writer made to fail with ENOSPC part-way, and the check that a write
which meets it leaves the file and its folder exactly as they were."""
import errno
import os
from pathlib import Path

import pytest

import rnnkit.runtime.checkpoint as ck
from rnnkit.errors import DiskFull


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
