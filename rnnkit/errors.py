"""Errors a user can cause: the CLI prints their one line and exits non-zero, never a traceback."""
from __future__ import annotations

import errno
import shutil
from pathlib import Path


class UserError(Exception):
    """Bad input from the user (a file, a flag, a run folder): the message says what was expected and what came."""


# what a full disk or an exhausted quota looks like: OSError's errno, or the text libraries wrap it in
# (safetensors: "I/O error: No space left on device (os error 28)"; Rust's Debug form: "kind: StorageFull")
_FULL_ERRNOS = {errno.ENOSPC: "out of disk space", errno.EDQUOT: "out of disk space (over the disk quota)"}
_FULL_TEXTS = {"no space left on device": errno.ENOSPC, "os error 28": errno.ENOSPC, "storagefull": errno.ENOSPC,
               "disk quota exceeded": errno.EDQUOT, "os error 122": errno.EDQUOT, "quotaexceeded": errno.EDQUOT}


def disk_full_errno(e: BaseException) -> int | None:
    """ENOSPC or EDQUOT when ``e`` (or an exception it was raised from) says the disk or the quota is full."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _FULL_ERRNOS:
            return e.errno
        text = str(e).lower().replace(" ", "") if not isinstance(e, OSError) else ""
        for phrase, code in _FULL_TEXTS.items():
            if phrase.replace(" ", "") in text:
                return code
        e = e.__cause__ or e.__context__
    return None


def free_bytes(path: Path) -> int | None:
    """Bytes free for this user on the filesystem holding ``path`` (its nearest existing folder)."""
    path = Path(path)
    for folder in (path, *path.parents):
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            continue
    return None


def human_bytes(n: int) -> str:
    """A size for people, in powers of 1000.

    >>> human_bytes(12_345_678), human_bytes(812), human_bytes(999_999)
    ('12.3 MB', '812 B', '1.0 MB')
    """
    if n < 1000:
        return f"{n} B"
    for unit in ("KB", "MB", "GB", "TB"):
        n /= 1000
        if n < 999.95 or unit == "TB":
            return f"{n:.1f} {unit}"
    raise AssertionError


class DiskFull(UserError):
    """A write that failed for lack of space: one line naming the path, the bytes it needed and the bytes
    free, and what to do. Nothing was half-written: the target keeps its previous contents."""

    def __init__(self, path: Path | str | None, needed: int | None = None, *, code: int = errno.ENOSPC,
                 hint: str = "free space and run again"):
        self.path = None if path is None else Path(path)
        self.needed, self.code, self.hint = needed, code, hint
        self.free = None if path is None else free_bytes(self.path.parent)
        sizes = []
        if needed is not None:
            sizes.append(f"needed {human_bytes(needed)}")
        if self.free is not None and code == errno.ENOSPC:   # a quota is not what the filesystem has free
            sizes.append(f"{human_bytes(self.free)} free")
        line = _FULL_ERRNOS.get(code, "out of disk space")
        if self.path is not None:
            line += f" writing {self.path}"
        if sizes:
            line += f" ({', '.join(sizes)})"
        super().__init__(f"{line}: {hint}")

    def again(self, *, path: Path | str | None = None, needed: int | None = None,
              hint: str | None = None) -> "DiskFull":
        """The same failure told at a higher level (the whole checkpoint, a run to resume); free space re-measured."""
        return DiskFull(self.path if path is None else path, self.needed if needed is None else needed,
                        code=self.code, hint=self.hint if hint is None else hint)
