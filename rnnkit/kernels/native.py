"""The compiled kernels in ``csrc/``: built against the installed torch on first use, then cached.

``load()`` returns the extension module, or ``None`` when it cannot be built here (no C++
compiler, no ninja, ``RNNKIT_NO_NATIVE=1``); ``status()`` says which and why. Callers fall back to
the pure-PyTorch kernels then, so rnnkit runs anywhere torch does; ``make install`` builds it once.

The build folder is keyed by the source, torch's version and this CPU's model and flags, since it is
compiled with ``-march=native``: ``$RNNKIT_CACHE/kernels/<key>`` (default ``~/.cache/rnnkit``).
``-ffast-math`` is given to the compiler only (never the linker, whose ``crtfastmath.o`` would turn
on flush-to-zero for the whole process); it lets GCC call glibc's vector ``exp``/``tanh``.

>>> status() in ("built", "disabled by RNNKIT_NO_NATIVE") or status().startswith("build failed")
True
"""
from __future__ import annotations

import hashlib
import os
import platform
import sys
import warnings
from pathlib import Path

import torch

__all__ = ["load", "status", "build_dir"]

CSRC = Path(__file__).parent / "csrc"
SOURCES = [CSRC / name for name in ("module.cpp", "lstm.cpp", "gru.cpp", "elman.cpp", "input_norm.cpp")]
CFLAGS = ["-O3", "-march=native", "-ffast-math", "-fopenmp"]
_STATE: dict = {}


def _cpu_key() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    lines = [line for line in text.splitlines() if line.startswith(("model name", "flags"))]
    return "\n".join(sorted(set(lines)))


def build_dir() -> Path:
    """Where this source, torch and CPU's build lives."""
    h = hashlib.sha256()
    parts = [p.read_bytes() for p in sorted(CSRC.iterdir()) if p.suffix in (".cpp", ".h")]
    for part in (*parts, torch.__version__.encode(), sys.version.encode(), _cpu_key().encode(),
                 " ".join(CFLAGS).encode()):
        h.update(part)
    root = Path(os.environ.get("RNNKIT_CACHE") or Path.home() / ".cache" / "rnnkit")
    return root / "kernels" / h.hexdigest()[:16]


def load():
    """The compiled module, building it the first time (about a minute); ``None`` if it cannot be built."""
    if "module" in _STATE:
        return _STATE["module"]
    module, why = None, "built"
    if os.environ.get("RNNKIT_NO_NATIVE"):
        why = "disabled by RNNKIT_NO_NATIVE"
    else:
        try:
            from torch.utils import cpp_extension
            folder = build_dir()
            folder.mkdir(parents=True, exist_ok=True)
            if not (folder / "rnnkit_native.so").exists():
                print("rnnkit: building the compiled kernels once for this torch and CPU (about a minute) ...",
                      file=sys.stderr, flush=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = cpp_extension.load(name="rnnkit_native", sources=[str(p) for p in SOURCES], extra_cflags=CFLAGS,
                                            extra_ldflags=["-fopenmp"], build_directory=str(folder), verbose=False)
        except Exception as error:  # a missing compiler or ninja shows up as many different errors
            why = f"build failed: {type(error).__name__}: {str(error).strip().splitlines()[-1] if str(error).strip() else ''}"
    _STATE["module"], _STATE["why"] = module, why
    return module


def status() -> str:
    """``"built"`` or why the compiled kernels are not in use."""
    load()
    return _STATE["why"]

