"""Spelling -> pronunciation on the CMU Pronouncing Dictionary: phoneme and word error rates on held-out
words, rnnkit's encoder-decoder with and without attention, uni- and bidirectional encoder, against the
PyPI g2p-en package's neural model on the same words.

Every rnnkit model is trained with the command a user types, the same time budget each:

    rnnkit train seq2seq --data $(rnnkit data fetch cmudict) --max-steps 1000000 --max-time B [--bidirectional] [--attention none]

(validation: a tenth of the training words; the test words are scored once, with the selected weights).
g2p-en (Park & Kim 2019) is a GRU encoder-decoder without attention trained on CMUdict; its ``predict``
(the neural model alone, without its dictionary lookup) is run on the same test words, its stress marks
removed as in our data. Its training data is CMUdict itself, so it may have seen any of our test words:
its figures are an upper bound for an unseen-word comparison. Run ``pip install g2p-en`` first.

    python benchmarks/results/g2p.py --budget 240

``--recipe`` trains the defaults to the end instead (the recipe: 15 passes, cosine; about 40 minutes of one
core), once a seed, and beside each candidate of ``--candidates`` (extra flags, ';'-separated):

    python benchmarks/results/g2p.py --recipe --seeds 1 --candidates "--dropout 0.3"
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import head_file, parser, write  # noqa: E402

from rnnkit.data.fetch import fetch  # noqa: E402
from rnnkit.tasks.scoring import error_rates  # noqa: E402

VARIANTS = {"bi-LSTM encoder, additive attention": ["--bidirectional"],
            "LSTM encoder, additive attention": [],
            "bi-LSTM encoder, no attention": ["--bidirectional", "--attention", "none"],
            "LSTM encoder, no attention": ["--attention", "none"]}
PUBLISHED = {"Yao & Zweig 2015, bi-LSTM with alignment (their CMUdict split: 106,837 / 12,000 words)":
             {"per": 0.0545, "wer": 0.2355}}


def test_words(folder: Path) -> dict[str, list[list[str]]]:
    refs: dict[str, list[list[str]]] = {}
    for line in (folder / "test.tsv").read_text(encoding="utf-8").splitlines():
        word, phones = line.split("\t")
        refs.setdefault(word, []).append(phones.split())
    return refs


def g2p_en_rates(refs: dict[str, list[list[str]]]) -> dict | None:
    """g2p-en's neural model on the test words (None when the package is missing)."""
    try:
        import types

        import g2p_en.g2p as g2p_module
    except ImportError:
        return None
    g2p_module.cmudict = types.SimpleNamespace(dict=dict)   # its dictionary lookup is not what is compared
    model = g2p_module.G2p()
    words = sorted(refs)
    outputs = [[p.rstrip("012") for p in model.predict(w)] for w in words]
    rates = error_rates(outputs, [refs[w] for w in words])
    return {"per": rates["token_error_rate"], "wer": rates["sequence_error_rate"]}


def train(data: Path, flags: list[str], budget: float | None) -> dict:
    """One run of the command a user types: for ``budget`` seconds, or (None) the recipe to its end."""
    limit = ["--max-steps", "1000000", "--max-time", str(budget)] if budget is not None else []
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "rnnkit", "train", "seq2seq", "--data", str(data), "--run", str(run),
               *limit, *flags]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip().splitlines()[-1:]}")
        test = json.loads((run / "test_metrics.json").read_text())
        steps = sum(1 for _ in (run / "metrics.csv").open()) - 1
        last = proc.stdout.strip().splitlines()
        return {"command": " ".join(["rnnkit train seq2seq --data CMUDICT", *limit, *flags]),
                "per": test["token_error_rate"], "wer": test["sequence_error_rate"], "metrics_rows": steps,
                "wall_s": round(wall, 1),
                "final_validation": next((l for l in last if l.startswith("final validation")), "")}


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=420.0, help="training seconds per model")
    p.add_argument("--long", type=float, default=0.0, help="then train the first model again for this many seconds "
                   "(0: no long run)")
    p.add_argument("--recipe", action="store_true", help="train the defaults to the end (and --candidates)")
    p.add_argument("--seeds", type=int, default=1, help="--recipe: seeds per candidate")
    p.add_argument("--candidates", default="", help="--recipe: extra flags of each candidate, ';'-separated")
    args = p.parse_args()
    started = time.perf_counter()
    data = fetch("cmudict")
    variants = VARIANTS
    if args.smoke:
        small = Path(tempfile.mkdtemp())
        (small / "train.tsv").write_bytes(head_file(data / "train.tsv", 20_000, ".tsv").read_bytes())
        (small / "test.tsv").write_bytes(head_file(data / "test.tsv", 2_000, ".tsv").read_bytes())
        data, args.budget, variants = small, 3.0, dict(list(VARIANTS.items())[:1])
    refs = test_words(data)
    if args.recipe:
        rows = []
        for extra in ["", *filter(None, (c.strip() for c in args.candidates.split(";")))]:
            for seed in range(args.seeds):
                flags = [*extra.split(), "--seed", str(seed)] + (["--max-steps", "5"] if args.smoke else [])
                rows.append({"candidate": extra or "defaults", "seed": seed, **train(data, flags, None)})
                print(rows[-1], flush=True)
        write("g2p", args, {"recipe": True, "test_words": len(refs), "rows": rows, "published": PUBLISHED}, started)
        return
    rows = []
    for name, flags in variants.items():
        row = {"model": name, **train(data, flags, args.budget)}
        rows.append(row)
        print(row, flush=True)
    long = None
    if args.long:
        name, flags = next(iter(VARIANTS.items()))
        long = {"model": name, **train(data, flags, args.long)}
        print(long, flush=True)
    g2p_en = g2p_en_rates(refs) if not args.smoke else None
    write("g2p", args, {"budget_s": args.budget, "test_words": len(refs),
                        "test_pronunciations": sum(map(len, refs.values())), "rows": rows, "long_run": long,
                        "g2p_en": g2p_en, "published": PUBLISHED}, started)


if __name__ == "__main__":
    main()
