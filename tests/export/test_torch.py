"""rnnkit.export.torch: the torch.export writer on a full disk."""
import errno
import os
from pathlib import Path

import pytest

import rnnkit.runtime.checkpoint as ck
from rnnkit.errors import DiskFull

pytestmark = pytest.mark.slow


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


def test_torch_export_writer(tmp_path, monkeypatch):
    import rnnkit as rk
    from rnnkit.export.torch import export_step_program

    program = tmp_path / "gru.pt2"
    unchanged_after_a_full_disk(program, lambda: export_step_program(rk.GRUCell(3, 4).eval(), program), monkeypatch)
