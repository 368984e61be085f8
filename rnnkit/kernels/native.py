"""The compiled kernels in ``csrc/``: built against the installed torch by one explicit call, then loaded.

``build()`` compiles them (about a minute on two cores; ``make install`` and ``rnnkit kernels build``
call it); ``load()`` only loads what was built and never compiles, so no training step waits on a
compiler. ``load()`` returns the extension module or ``None``; ``status()`` says which and why
(``"built"``, not built yet, ``RNNKIT_NO_NATIVE=1``, or a failed build). Callers fall back to the
pure-PyTorch kernels then, so rnnkit runs anywhere torch does.

The build folder is keyed by the source, torch's version and this CPU's model and flags, since it is
compiled with ``-march=native``: ``$RNNKIT_CACHE/kernels/<key>`` (default ``~/.cache/rnnkit``).
``-ffast-math`` is given to the compiler only (never the linker, whose ``crtfastmath.o`` would turn
on flush-to-zero for the whole process); it lets GCC call glibc's vector ``exp``/``tanh``.

For timing a change against what it replaced, ``build_copy(folder, name)`` compiles another copy of
``csrc/`` (a previous revision's) as a separately named extension, and within ``substituted(module)``
the operators run that build instead of this one (``rnnkit bench --baseline-ref``).

>>> status() in ("built", "disabled by RNNKIT_NO_NATIVE", NOT_BUILT) or status().startswith("build failed")
True
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib.machinery
import importlib.util
import os
import platform
import sys
import warnings
from pathlib import Path
from typing import Iterator

import torch
from torch import Tensor

__all__ = ["load", "build", "status", "build_dir", "usable", "without_native", "build_copy", "substituted",
           "NOT_BUILT"]

CSRC = Path(__file__).parent / "csrc"
SOURCES = [CSRC / name for name in ("module.cpp", "lstm.cpp", "gru.cpp", "elman.cpp", "input_norm.cpp", "scan.cpp", "eunn.cpp",
                                    "step.cpp")]
CFLAGS = ["-O3", "-march=native", "-ffast-math", "-fopenmp"]
NOT_BUILT = "not built: run `rnnkit kernels build` (or `make install`) once"
LIBRARY = "rnnkit_native.so"
_STATE: dict = {}
_OFF = contextvars.ContextVar("rnnkit_native_off", default=False)
_SUBSTITUTE = contextvars.ContextVar("rnnkit_native_substitute", default=None)
_DTYPES = (torch.float32, torch.float64)


def _cpu_key() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    lines = [line for line in text.splitlines() if line.startswith(("model name", "flags"))]
    return "\n".join(sorted(set(lines)))


def _key(csrc: Path, *extra: str) -> str:
    """A hash of the sources in ``csrc``, torch's and Python's versions, this CPU and the flags."""
    h = hashlib.sha256()
    parts = [p.read_bytes() for p in sorted(csrc.iterdir()) if p.suffix in (".cpp", ".h")]
    for part in (*parts, torch.__version__.encode(), sys.version.encode(), _cpu_key().encode(),
                 " ".join(CFLAGS).encode(), *(e.encode() for e in extra)):
        h.update(part)
    return h.hexdigest()[:16]


def _cache() -> Path:
    return Path(os.environ.get("RNNKIT_CACHE") or Path.home() / ".cache" / "rnnkit") / "kernels"


def build_dir() -> Path:
    """Where this source, torch and CPU's build lives."""
    return _cache() / _key(CSRC)


def _import(path: Path, name: str = "rnnkit_native"):
    """The built extension module ``name`` at ``path``, imported without the build system."""
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def build(*, quiet: bool = False):
    """Compile the kernels for this torch and CPU if they are not built yet, then load them; the
    module, or ``None`` with the reason in ``status()``."""
    if os.environ.get("RNNKIT_NO_NATIVE"):
        return load()
    folder = build_dir()
    if not (folder / LIBRARY).exists():
        try:
            from torch.utils import cpp_extension
            folder.mkdir(parents=True, exist_ok=True)
            if not quiet:
                print("rnnkit: building the compiled kernels for this torch and CPU (about a minute) ...",
                      file=sys.stderr, flush=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cpp_extension.load(name="rnnkit_native", sources=[str(p) for p in SOURCES], extra_cflags=CFLAGS,
                                   extra_ldflags=["-fopenmp"], build_directory=str(folder), verbose=False)
        except Exception as error:  # a missing compiler or ninja shows up as many different errors
            text = str(error).strip()
            _STATE.update(module=None, why=f"build failed: {type(error).__name__}: {text.splitlines()[-1] if text else ''}")
            return None
    _STATE.clear()
    return load()


def load():
    """The compiled module if it was built for this torch and CPU, else ``None``; never compiles.
    Within ``substituted(module)``, that module."""
    if _SUBSTITUTE.get() is not None:
        return _SUBSTITUTE.get()
    if "why" in _STATE:
        return _STATE["module"]
    module, why = None, "built"
    if os.environ.get("RNNKIT_NO_NATIVE"):
        why = "disabled by RNNKIT_NO_NATIVE"
    else:
        path = build_dir() / LIBRARY
        if not path.exists():
            why = NOT_BUILT
        else:
            try:
                module = _import(path)
            except Exception as error:  # a library built against another torch fails in many ways
                why = f"build failed: {type(error).__name__}: {error}"
    _STATE.update(module=module, why=why)
    return module


def status() -> str:
    """``"built"`` or why the compiled kernels are not in use."""
    load()
    return _STATE["why"]


def usable(x: Tensor) -> bool:
    """Can the compiled kernels run on ``x``: built, switched on, and ``x`` a float32/float64 CPU tensor."""
    return not _OFF.get() and x.device.type == "cpu" and x.dtype in _DTYPES and load() is not None


@contextlib.contextmanager
def without_native() -> Iterator[None]:
    """Within this block routing behaves as if the compiled kernels could not be built (tests of the
    fallback); re-entrant, like ``registry.only_generic``."""
    token = _OFF.set(True)
    try:
        yield
    finally:
        _OFF.reset(token)


def build_copy(csrc: Path, name: str):
    """Compile the ``.cpp`` files of another copy of ``csrc/`` (a previous revision's, say) as the extension
    module ``name`` (a name of its own, so that it loads beside this build), cached by its sources like
    ``build_dir()``; the module. Raises what the compiler raised."""
    from torch.utils import cpp_extension
    csrc = Path(csrc)
    folder = _cache() / f"{name}-{_key(csrc, name)}"
    if not (folder / f"{name}.so").exists():
        folder.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cpp_extension.load(name=name, sources=[str(p) for p in sorted(csrc.glob("*.cpp"))], extra_cflags=CFLAGS,
                               extra_ldflags=["-fopenmp"], build_directory=str(folder), verbose=False)
    return _import(folder / f"{name}.so", name)


@contextlib.contextmanager
def substituted(module) -> Iterator[None]:
    """Within this block the operators run ``module`` (from ``build_copy``, with the same entry points)
    instead of this build: the same Python code timed against another revision's kernels."""
    token = _SUBSTITUTE.set(module)
    try:
        yield
    finally:
        _SUBSTITUTE.reset(token)
