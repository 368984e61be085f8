"""The GPU check (``make gpu-check``, benchmarks/gpu.py) runs where no GPU is lent: its ``--dry-run`` takes
the same code paths on the CPU at tiny sizes and writes a JSON with every cell's rows, so the script
that a lent device runs once has already worked."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu.py"
SHELL = ROOT / "benchmarks" / "gpu.sh"


def _gpu_module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args, timeout=120):
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_dry_run_writes_every_cell_row_with_a_time_or_an_error(tmp_path):
    out = tmp_path / "gpu.json"
    proc = _run("--dry-run", "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    env = result["environment"]
    assert result["complete"] and result["dry_run"] and env["device"] == "cpu"
    assert {"torch", "cuda", "cudnn", "tf32"} <= set(env)
    tests = result["tests"]
    assert tests["selected"] and all(f in tests["selected"][0] for f in ("tests/test_", "::"))
    assert all(isinstance(tests[k], int) for k in ("passed", "failed", "errors", "skipped")) and not tests["timed_out"]
    assert tests["failed"] == tests["errors"] == 0
    cells = _gpu_module().CELLS
    for dtype in ("float32", "bf16", "fp16"):
        for lengths in (False, True):
            rows = {r["cell"]: r for r in result["rows"] if r["dtype"] == dtype and r["lengths"] == lengths}
            assert set(rows) == set(cells), (dtype, lengths)
    for r in result["rows"]:
        assert isinstance(r.get("rnnkit_ms"), float) != isinstance(r.get("rnnkit_error"), str), r
        assert "path" in r, r
        if r["peer"] is not None:
            assert isinstance(r.get("peer_ms"), float) != isinstance(r.get("peer_error"), str), r
    # float32 is the path every cell supports: there a failure is a bug, not a finding
    assert all("rnnkit_ms" in r for r in result["rows"] if r["dtype"] == "float32")
    g = result["generation"]
    assert all(g[k]["tokens_per_s"] > 0 for k in ("rnnkit", "torch_nn_lstm", "torch_nn_lstmcell"))
    assert "| cell |" in proc.stdout and "wrote" in proc.stdout


def test_without_cuda_and_without_dry_run_one_line_and_exit_2(tmp_path):
    if torch.cuda.is_available():
        return
    proc = _run("--out", str(tmp_path / "gpu.json"), timeout=60)
    assert proc.returncode == 2 and proc.stdout.strip() == "no CUDA device: use --dry-run on the CPU"
    assert not (tmp_path / "gpu.json").exists()


def test_the_cuda_tests_are_found_from_the_source(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text(
        "import pytest, torch\n"
        "CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason='gpu')\n"
        "@CUDA\ndef test_marked(): pass\n"
        "@pytest.mark.skipif(not torch.cuda.is_available(), reason='gpu')\ndef test_direct(): pass\n"
        "def test_inside():\n    if not torch.cuda.is_available():\n        pytest.skip('gpu')\n"
        "def test_cpu():\n    if torch.cuda.is_available():\n        pytest.skip('has a gpu')\n"
        "class TestThing:\n    @CUDA\n    def test_method(self): pass\n    def test_plain(self): pass\n")
    (tmp_path / "tests" / "test_b.py").write_text("def test_other(): pass\n")
    assert _gpu_module().cuda_tests(tmp_path / "tests") == [
        "tests/test_a.py::test_marked", "tests/test_a.py::test_direct", "tests/test_a.py::test_inside",
        "tests/test_a.py::TestThing::test_method"]


def test_junit_and_summary_counts(tmp_path):
    gpu = _gpu_module()
    xml = tmp_path / "j.xml"
    xml.write_text('<testsuites><testsuite name="pytest">'
                   '<testcase classname="tests.test_a" name="test_ok"/>'
                   '<testcase classname="tests.test_a" name="test_bad"><failure message="x"/></testcase>'
                   '<testcase classname="tests.test_a" name="test_err"><error message="y"/></testcase>'
                   '<testcase classname="tests.test_a" name="test_gpu"><skipped message="needs a GPU"/></testcase>'
                   '</testsuite></testsuites>')
    counts = gpu.parse_junit(xml)
    assert (counts["passed"], counts["failed"], counts["errors"], counts["skipped"]) == (1, 1, 1, 1)
    assert counts["failed_tests"] == ["tests.test_a::test_bad", "tests.test_a::test_err"]
    assert counts["skip_reasons"] == {"needs a GPU": 1}
    assert gpu.parse_summary("== 3 failed, 12 passed, 2 skipped, 1 error in 9.1s ==") == {
        "passed": 12, "failed": 3, "errors": 1, "skipped": 2}


def test_gpu_sh_is_executable_and_runs_gpu_py():
    assert os.access(SHELL, os.X_OK)
    text = SHELL.read_text()
    assert text.startswith("#!") and "benchmarks/gpu.py" in text
    assert "benchmarks/gpu.sh" in (ROOT / "Makefile").read_text()
