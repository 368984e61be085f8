"""Token streams larger than memory: a text encoded once, in bounded memory, into a file of ids that
training reads through a memory map.

``token_file(path, level)`` returns the ids (a read-only ``numpy.memmap`` of ``uint8`` / ``uint16`` /
``int32``, by vocabulary size), the vocabulary and the level. The file and its vocabulary live in
``$RNNKIT_CACHE/tokens/<key>/`` (default ``~/.cache/rnnkit``), keyed by the text's path, size and
modification time, so a second run reads the map at once. Encoding reads the text in chunks of
``CHUNK`` bytes twice (the vocabulary, then the ids), so its memory does not grow with the text.

The vocabulary is the one the in-memory reader builds: the 256 byte values for ``byte``, the
sorted distinct characters for ``char`` (a UTF-8 byte-order mark is not text); ``auto`` is ``char``
when the file is UTF-8, else ``byte``.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> (folder / "t.txt").write_text("abcab")
5
>>> ids, vocab, level = token_file(folder / "t.txt", "auto", cache=folder)
>>> ids.tolist(), vocab, level, ids.dtype.name
([0, 1, 2, 0, 1], ['a', 'b', 'c'], 'char', 'uint8')
"""
from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..runtime.checkpoint import atomic_file, atomic_write_bytes
from ..errors import DiskFull, UserError

__all__ = ["token_file", "CHUNK"]

CHUNK = 1 << 20
FORMAT = 1


def _cache_root() -> Path:
    return Path(os.environ.get("RNNKIT_CACHE") or Path.home() / ".cache" / "rnnkit")


def _chunks(path: Path):
    with open(path, "rb") as f:
        while True:
            raw = f.read(CHUNK)
            if not raw:
                return
            yield raw


def _decoded(path: Path):
    """The text of ``path`` in pieces; UnicodeDecodeError when it is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    offset = 0
    for raw in _chunks(path):
        try:
            yield decoder.decode(raw)
        except UnicodeDecodeError as e:
            raise UnicodeDecodeError(e.encoding, e.object, offset + e.start, offset + e.end, e.reason) from None
        offset += len(raw)
    yield decoder.decode(b"", final=True)


def _dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint8 if vocab_size <= 256 else np.uint16 if vocab_size <= 65536 else np.int32)


def _encode(path: Path, level: str, folder: Path) -> None:
    """Write ``ids.bin`` and ``meta.json`` into ``folder``, each through a temporary file (processes encoding
    at once each write their own), ``meta.json`` last."""
    count = path.stat().st_size                               # the ids of byte level: one per byte
    if level in ("char", "auto"):
        try:
            symbols: set[str] = set()
            count = 0
            for piece in _decoded(path):
                symbols.update(piece)
                count += len(piece)
            level = "char"
        except UnicodeDecodeError as e:
            if level == "char":
                raise UserError(f"expected UTF-8 text for a character model; {path} has a non-UTF-8 byte at offset "
                                f"{e.start} (use --level byte)") from None
            level, count = "byte", path.stat().st_size
    vocab = list(range(256)) if level == "byte" else sorted(symbols)
    dtype = _dtype(len(vocab))
    size, written = count * dtype.itemsize, 0                # the ids' bytes, from the first pass
    try:
        with atomic_file(folder / "ids.bin", size=size) as out:
            if level == "byte":
                for raw in _chunks(path):
                    out.write(raw)                                          # byte b has id b
                    written += len(raw)
            else:
                points = np.array([ord(c) for c in vocab], dtype=np.uint32)  # sorted, as the vocabulary
                for piece in _decoded(path):
                    cps = np.frombuffer(piece.encode("utf-32-le"), dtype=np.uint32)
                    out.write(np.searchsorted(points, cps).astype(dtype).tobytes())
                    written += len(cps)
        meta = {"format": FORMAT, "level": level, "vocab": vocab, "dtype": dtype.name, "count": written}
        atomic_write_bytes(folder / "meta.json", json.dumps(meta).encode())  # last: marks the folder complete
    except DiskFull as e:
        with contextlib.suppress(OSError):                # ids without their meta.json are never read: room back
            if not (folder / "meta.json").exists():
                (folder / "ids.bin").unlink()
        raise e.again(path=folder / "ids.bin", needed=size,
                      hint="free space, or set RNNKIT_CACHE to a folder with room, and run again") from None


def token_file(path: str | Path, level: str = "auto", *, cache: Path | None = None):
    """(ids as a read-only memmap, vocabulary, level) of the text at ``path``, encoding it on first use."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"expected a text file at {path}; " + ("it is a folder" if path.is_dir() else "it does not exist"))
    stat = path.stat()
    if stat.st_size == 0:
        raise UserError(f"expected a text file at {path}; it is empty")
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{level}|{FORMAT}".encode()).hexdigest()
    folder = (cache or _cache_root()) / "tokens" / key[:16]
    if not (folder / "meta.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            _encode(path, level, folder)
        except DiskFull:
            with contextlib.suppress(OSError):
                folder.rmdir()                                # only when empty: another process may be encoding
            raise
    meta = json.loads((folder / "meta.json").read_text())
    if meta["count"] == 0:
        raise UserError(f"expected some text in {path}; it holds none")
    ids = np.memmap(folder / "ids.bin", dtype=np.dtype(meta["dtype"]), mode="r", shape=(meta["count"],))
    return ids, meta["vocab"], meta["level"]
