"""Long texts: rnnkit's text classifier on the python-files set (every .py file of seven pinned wheels, labelled by
package; thousands of characters each) against a character n-gram TF-IDF logistic regression (scikit-learn).

Each rnnkit candidate is the command a user types on the fetched folder (train.jsonl, test.jsonl):

    python -m rnnkit train classify --data $(rnnkit data fetch python-files) --tokens char --seed S [flags]

which chooses its weights on its own validation share of train.jsonl and scores test.jsonl once at the end
(test_metrics.json). The run's wall time and its process's CPU seconds are reported: the wall time is only
meaningful on a machine that runs nothing else. The baseline fits train.jsonl and scores test.jsonl.

    python benchmarks/results/long_text.py --seeds 3                     # defaults and --window off
    python benchmarks/results/long_text.py --candidates defaults --seeds 1
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import linear_baseline, mean_sd, parser, write  # noqa: E402

from rnnkit.data.fetch import fetch  # noqa: E402
from rnnkit.data.text import read_labelled  # noqa: E402

CANDIDATES = {"defaults": [], "window-off": ["--window", "off"], "window-2x": ["--window", "1750"],
              "rnn": ["--model", "rnn"], "lstm-cnn": ["--model", "lstm-cnn"]}


def ngram_baseline(train: Path, test: Path) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    vec = TfidfVectorizer(analyzer="char", ngram_range=(6, 6), min_df=2, sublinear_tf=True, lowercase=True)
    return linear_baseline(vec, read_labelled(train), read_labelled(test), "TF-IDF of character 6-grams (min count 2, "
                           "sublinear tf), logistic regression C=10, scikit-learn", C=10.0)


def candidate(name: str, flags: list[str], folder: Path, tmp: Path, extra: list[str], seed: int) -> dict:
    run = tmp / f"{name}-{seed}"
    cmd = [sys.executable, "-m", "rnnkit", "train", "classify", "--data", str(folder), "--tokens", "char",
           "--run", str(run), "--seed", str(seed), *flags, *extra]
    t0 = time.perf_counter()
    with open(tmp / "stderr", "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)          # this child's own CPU time, whatever else runs
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {(tmp / 'stderr').read_text().strip().splitlines()[-1:]}")
    seconds = time.perf_counter() - t0
    test = json.loads((run / "test_metrics.json").read_text())
    config = json.loads((run / "config.json").read_text())
    steps = int(float(next(reversed((run / "metrics.csv").read_text().splitlines())).split(",")[0]))
    return {"model": f"rnnkit: {name}", "seed": seed, "flags": " ".join(["--tokens", "char", *flags]),
            "accuracy": test["accuracy"], "macro_f1": test.get("macro_f1"), "steps": steps,
            "window": config["meta"].get("window"), "seconds": round(seconds, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1)}


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--candidates", default="defaults,window-off", help="comma-separated names of CANDIDATES "
                   f"(default: defaults,window-off; all: {','.join(CANDIDATES)})")
    p.add_argument("--seeds", type=int, default=3, help="seeds per candidate (default 3)")
    args = p.parse_args()
    chosen, extra = args.candidates.split(","), []
    if set(chosen) - set(CANDIDATES):
        raise SystemExit(f"--candidates: expected names from {list(CANDIDATES)}; received {args.candidates!r}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = fetch("python-files")
        if args.smoke:       # every 25th file, its first 3,000 characters; three updates
            small = tmp / "small"
            small.mkdir()
            for part in ("train", "test"):
                rows = [{"text": t[:3000], "label": l} for t, l in read_labelled(folder / f"{part}.jsonl")[::25]]
                (small / f"{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            folder, chosen, args.seeds = small, ["defaults"], 1
            extra = ["--max-steps", "3", "--eval-every", "3", "--window", "500"]
        rows = [ngram_baseline(folder / "train.jsonl", folder / "test.jsonl")]
        print(rows[-1], flush=True)
        for name in chosen:
            for seed in range(args.seeds):
                rows.append(candidate(name, CANDIDATES[name], folder, tmp, extra, seed))
                print(rows[-1], flush=True)
        summary = {name: {k: mean_sd([r[k] for r in rows if r["model"] == f"rnnkit: {name}"])
                          for k in ("accuracy", "macro_f1", "seconds", "cpu_seconds")} for name in chosen}
        sizes = {part: len(read_labelled(folder / f"{part}.jsonl")) for part in ("train", "test")}
    write("long_text", args, {**sizes, "seeds": args.seeds, "rows": rows, "summary": summary}, started)


if __name__ == "__main__":
    main()
