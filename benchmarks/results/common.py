"""Shared by the result scripts: argument parsing (--smoke), timing, writing JSON next to the script."""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true", help="a tiny run for CI: checks the script works, proves nothing")
    p.add_argument("--out", default=None, help="JSON output (default: next to the script, <name>.json)")
    return p


def run_rnnkit(*args: str) -> None:
    """``rnnkit ARGS`` as a user types it, in a new process; its last error line ends the script."""
    cmd = [sys.executable, "-m", "rnnkit", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip().splitlines()[-1:]}")


def head_file(path: Path, n_bytes: int, suffix: str) -> Path:
    """A temporary copy of the first ``n_bytes`` of a file, cut at a line end (smoke runs read less)."""
    import tempfile
    data = Path(path).read_bytes()[:n_bytes]
    data = data[: data.rfind(b"\n") + 1] or data
    out = Path(tempfile.mkdtemp()) / f"head{suffix}"
    out.write_bytes(data)
    return out


def mean_sd(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def write(name: str, args, result: dict, started: float) -> None:
    result["wall_time_s"] = round(time.perf_counter() - started, 1)
    result["smoke"] = bool(args.smoke)
    path = Path(args.out) if args.out else HERE / f"{name}{'.smoke' if args.smoke else ''}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")


def linear_baseline(vectorizer, train: list[tuple[str, str]], test: list[tuple[str, str]], model: str,
                    C: float = 1.0) -> dict:
    """A scikit-learn logistic regression on ``vectorizer``'s features of (text, label) pairs, fitted on ``train``
    and scored on ``test``: accuracy, macro F1 and the seconds it took."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    t0 = time.perf_counter()
    clf = LogisticRegression(max_iter=2000, C=C).fit(vectorizer.fit_transform([t for t, _ in train]),
                                                     [l for _, l in train])
    pred = clf.predict(vectorizer.transform([t for t, _ in test]))
    gold = [l for _, l in test]
    return {"model": model, "accuracy": accuracy_score(gold, pred), "macro_f1": f1_score(gold, pred, average="macro"),
            "seconds": round(time.perf_counter() - t0, 1)}
