"""Names -> language (the RNN 1 notes' closing example; PyTorch's tutorial "NLP From Scratch: Classifying Names
with a Character-Level RNN"): `rnnkit train classify --data NAMES/train --tokens char` with its defaults, scored
once on NAMES/test with the weights it selected (what `rnnkit eval RUN --data NAMES/test` prints), beside two
references on the same split: the most frequent language, and a logistic regression on character 1-4-grams
(scikit-learn).

NAMES is `rnnkit data fetch names`: surnames of 16 of the tutorial's 18 languages from Faker's and Mimesis's lists
(no Scottish, no Vietnamese), names in their own script, a tenth of each language held out by name. The tutorial
reports no accuracy to compare with: it splits its own 20,074 romanised names 85/15 and shows only the
row-normalised confusion matrix of the test part. Ours is written to names_confusion.png (the first seed's run).

    python benchmarks/results/names.py --seeds 3
"""
from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import HERE, linear_baseline, mean_sd, parser, run_rnnkit, write  # noqa: E402

from rnnkit.data.fetch import fetch  # noqa: E402
from rnnkit.data.text import read_labelled  # noqa: E402
from rnnkit.tools.figures import confusion_figure  # noqa: E402
from rnnkit.runs import open_run  # noqa: E402

TUTORIAL = {"model": "the PyTorch tutorial's character RNN (nn.RNN, 128 units) on its own 18 languages",
            "accuracy": None, "note": "the tutorial reports no accuracy, only a row-normalised confusion matrix"}


def thinned(source: Path, folder: Path, every: int) -> Path:
    """A copy of a names folder's train/ and test/ with every ``every``-th name of each language (smoke runs)."""
    for part in ("train", "test"):
        (folder / part).mkdir(parents=True)
        for f in (source / part).glob("*.txt"):
            names = f.read_text(encoding="utf-8").splitlines()
            (folder / part / f.name).write_text("\n".join(names[::every]) + "\n", encoding="utf-8")
    return folder


def majority(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> dict:
    label = Counter(l for _, l in train).most_common(1)[0][0]
    return {"model": f"the most frequent language ({label})", "accuracy": sum(l == label for _, l in test) / len(test)}


def char_ngrams(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> dict:
    from sklearn.feature_extraction.text import CountVectorizer
    return linear_baseline(CountVectorizer(analyzer="char_wb", ngram_range=(1, 4), lowercase=True), train, test,
                           "character 1-4-gram logistic regression, scikit-learn")


def rnnkit_classify(data: Path, run: Path, seed: int, extra: list[str], figure: Path | None) -> dict:
    t0 = time.perf_counter()
    run_rnnkit("train", "classify", "--data", str(data / "train"), "--tokens", "char", "--run", str(run),
               "--seed", str(seed), *extra)
    task, model = open_run(run)
    task.load_eval_data(str(data / "test"))
    scores = task.evaluate(model)
    labels, confusion = task.meta["labels"], task.confusion
    if figure is not None:
        confusion_figure(confusion, labels, figure)
    recall = (confusion.diag().double() / confusion.sum(1).clamp(min=1)).tolist()
    steps = int(float(next(reversed((run / "metrics.csv").read_text().splitlines())).split(",")[0]))
    return {"model": f"rnnkit classify --tokens char {' '.join(extra) or '(defaults)'}", "seed": seed, "accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"], "recall": {l: round(r, 3) for l, r in zip(labels, recall)},
            "steps": steps, "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3, help="seeds of the rnnkit run (default 3)")
    p.add_argument("--flags", default="", help="flags added to every rnnkit run, e.g. --flags='--model lstm-cnn'")
    args = p.parse_args()
    extra = args.flags.split() + (["--max-steps", "3", "--eval-every", "3"] if args.smoke else [])
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = fetch("names")
        if args.smoke:
            data, args.seeds = thinned(data, Path(tmp) / "names", 20), 1
        train, test = read_labelled(data / "train"), read_labelled(data / "test")
        rows = [TUTORIAL, majority(train, test), char_ngrams(train, test)]
        for seed in range(args.seeds):
            figure = HERE / "names_confusion.png" if seed == 0 and not args.smoke else None
            rows.append(rnnkit_classify(data, Path(tmp) / f"run{seed}", seed, extra, figure))
            print(rows[-1], flush=True)
    summary = {k: mean_sd([r[k] for r in rows if r.get("seed") is not None]) for k in ("accuracy", "macro_f1")}
    sizes = {part: dict(sorted(Counter(l for _, l in pairs).items()))
             for part, pairs in (("train", train), ("test", test))}
    write("names", args, {"data": "rnnkit data fetch names", "sizes": sizes, "seeds": args.seeds, "rows": rows,
                          "summary": summary}, started)


if __name__ == "__main__":
    main()
