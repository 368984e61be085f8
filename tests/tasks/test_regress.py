"""The regress task: the regression archive's .ts files (``@targetLabel``) and texts with numeric labels, a model
that learns a target from its series, scores in the targets' units, and one clear line for a bad target."""
import json
import math
import random

import pytest

from rnnkit.cli import main

pytestmark = pytest.mark.slow


def target_ts(path, n=60, *, seed=0, header="@targetLabel true"):
    """Univariate series of unequal lengths whose target is 10 x the mean of the series plus 3 (as the Monash
    regression archive writes them: the target where a class label would be)."""
    rng = random.Random(seed)
    lines = ["@problemName Level", "@timeStamps false", "@univariate true", "@equalLength false", header, "@data"]
    for _ in range(n):
        level = rng.uniform(-1, 1)
        values = [level + 0.1 * rng.gauss(0, 1) for _ in range(rng.randint(8, 14))]
        lines.append(",".join(f"{v:.5f}" for v in values) + f":{10 * sum(values) / len(values) + 3:.6f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def last_line(capsys):
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_regress_learns_a_series_target_and_scores_the_test_file(tmp_path, capsys):
    folder = tmp_path / "Level"
    folder.mkdir()
    target_ts(folder / "Level_TRAIN.ts", n=80)
    target_ts(folder / "Level_TEST.ts", n=40, seed=1, header="@classLabel true")    # numbers as class labels too
    run = tmp_path / "run"
    assert main(["train", "regress", "--data", str(folder), "--run", str(run), "--model", "rnn", "--hidden-size", "8",
                 "--max-steps", "150", "--lr", "0.02", "--eval-every", "50", "--batch-size", "16"]) == 0
    assert last_line(capsys).startswith("test (regress, ")
    test = json.loads((run / "test_metrics.json").read_text())
    assert test["r2"] > 0.8 and set(test) == {"test", "mse", "mae", "r2", "loss"}, test
    assert main(["predict", str(run), "0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5"]) == 0
    value = float(last_line(capsys).split("=")[1])
    assert math.isclose(value, 8.0, abs_tol=2.0), value                              # 10 x 0.5 + 3
    assert main(["eval", str(run), "--data", str(folder / "Level_TEST.ts")]) == 0
    line = last_line(capsys)
    assert line.startswith("regress eval on ") and "  r2 " in line, line


def test_regress_reads_texts_with_numeric_labels(tmp_path, capsys):
    rng = random.Random(0)
    words = ["good", "bad", "film"]
    rows = ["text,label"] + [f"{' '.join(rng.choice(words) for _ in range(5))},{rng.uniform(0, 5):.3f}" for _ in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert main(["train", "regress", "--data", str(tmp_path / "t.csv"), "--run", str(run), "--hidden-size", "4",
                 "--max-steps", "4", "--eval-every", "4"]) == 0
    assert "mse" in last_line(capsys)
    assert main(["predict", str(run), "good good film"]) == 0
    assert last_line(capsys).startswith("value=")


@pytest.mark.parametrize("target", ["abc", "nan", "inf"])
def test_a_target_that_is_not_a_finite_number_is_one_line(tmp_path, capsys, target):
    (tmp_path / "t.csv").write_text(f"text,label\nok,1.5\nbad,{target}\n")
    capsys.readouterr()
    assert main(["train", "regress", "--data", str(tmp_path / "t.csv"), "--run", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"rnnkit: error: expected a finite number as the target of example 2 of {tmp_path / 't.csv'}; "
                   f"received '{target}'"]
    assert not (tmp_path / "run").exists()


def test_the_series_recipe_is_lstm_fcn_reading_the_length(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "regress", "--data", str(target_ts(tmp_path / "t.ts", n=30)), "--run", str(run),
                 "--max-steps", "3", "--eval-every", "3", "--filters", "8,16,8", "--length-input", "auto"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["task_config"]["model"] == "lstm-fcn" and config["meta"]["filters"] == [8, 16, 8]
    assert config["meta"]["log_length"] is not None                    # the series' lengths differ
    assert main(["predict", str(run), "1,2,3,4,5,6,7,8,9"]) == 0
    assert last_line(capsys).startswith("value=")
