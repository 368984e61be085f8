"""A wheel built from the repository, installed into a fresh virtual environment, builds and uses the
compiled kernels there (the C++ sources and the header they include travel with the package)."""
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def run(*argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=900, **kw)


def test_wheel_in_a_fresh_venv_builds_and_uses_the_compiled_kernels(tmp_path):
    built = run(sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "--no-build-isolation", "-q", "-w",
                tmp_path / "dist")
    if built.returncode != 0 and "No module named" in built.stderr:
        pytest.skip(f"cannot build a wheel here: {built.stderr.strip().splitlines()[-1]}")
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("rnnkit-*.whl"))
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", venv).returncode == 0
    py = venv / "bin" / "python"
    # the dependencies (torch, numpy, ...) come from this environment, without its editable rnnkit:
    # a .pth names the folder, and .pth files inside it are not read, so only the wheel's rnnkit is found
    purelib = run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    Path(purelib, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    installed = run(py, "-m", "pip", "install", "--no-deps", "-q", wheel)
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "RNNKIT_CACHE": str(tmp_path / "cache")}          # a cold cache: really build
    env.pop("RNNKIT_NO_NATIVE", None)
    build = run(venv / "bin" / "rnnkit", "kernels", "build", env=env, cwd=tmp_path)
    assert build.returncode == 0 and "compiled kernels: built" in build.stdout, build.stdout + build.stderr
    check = run(py, "-c", "import rnnkit, torch; from rnnkit import kernels; "
                "x = torch.randn(2, 5, 3); cell = rnnkit.GRUCell(3, 4); "
                "print(rnnkit.__file__); print(kernels.native.status(), kernels.path_for(cell, x)); "
                "y, h = rnnkit.unroll(cell, x); y.sum().backward()", env=env, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    where, status = check.stdout.strip().splitlines()
    assert where.startswith(str(venv)) and status == "built native-gru"
