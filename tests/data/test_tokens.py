"""rnnkit.data.tokens: the memory-mapped token cache equals the in-memory encoding, keeps memory bounded,
and leaves nothing half-written on a full disk."""
import contextlib
import errno
import os
import subprocess
import sys

import numpy as np
import pytest

import rnnkit.runtime.checkpoint as ck
from rnnkit.data.text import read_text
from rnnkit.data.tokens import token_file
from rnnkit.data.vocab import Vocab
from rnnkit.errors import DiskFull

pytestmark = pytest.mark.slow


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
