"""rnnkit.export.bench: `rnnkit bench export --quick`."""
import pytest

pytestmark = pytest.mark.slow


def test_bench_export_quick_measures_speed_and_the_int8_metric(tmp_path):
    import json

    from datasets import text_file
    from rnnkit.tools.bench import main as bench
    from rnnkit.cli import main

    run = tmp_path / "lm"
    assert main(["train", "charlm", "--data", str(text_file(tmp_path / "t.txt", n=60000)), "--hidden-size", "16",
                 "--max-steps", "20", "--batch-size", "4", "--seq-len", "20", "--run", str(run)]) == 0
    out = tmp_path / "export.json"
    assert bench(["--export", "--quick", "--run", str(run), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["generation"]["tokens_per_s"]) == {"rnnkit", "torch_nn_lstm", "onnxruntime", "onnxruntime_int8"}
    assert all(v > 0 for v in result["classification"]["sequences_per_s"].values())
    metric = result["task_metrics"][0]
    assert metric["task"] == "charlm" and abs(metric["onnxruntime"] - metric["rnnkit"]) < 1e-4
    assert 0 < metric["onnxruntime_int8"] < 10
