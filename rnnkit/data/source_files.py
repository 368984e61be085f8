"""Long texts with labels from the registry: Python source files labelled by the package that ships them.

A text classifier meets long strings (a file, a document, a protein) where a tweet is short. This set is
made of real long strings: every ``.py`` file of seven pinned PyPI wheels, labelled by its package, so a
model must tell numpy's code from pandas' or scikit-learn's by what is written in it. Files are read
whole (mean length several thousand characters, the longest kept to ``MAX_CHARS``), exact copies and files
of fewer than ``MIN_CHARS`` characters left out (an empty ``__init__.py`` says nothing), and split by file
with a fixed seed: a third of each package is the test set.

What lands in the cache: ``train.jsonl`` and ``test.jsonl`` (one ``{"text": ..., "label": ...}`` a line,
the layout ``rnnkit train classify --data FOLDER`` reads) and ``source_files.json`` (packages, versions,
counts and lengths).
"""
from __future__ import annotations

import hashlib
import json
import random
import statistics
from pathlib import Path
from typing import Callable

# package -> the wheel fetched (pinned: the files change with versions) and the top folder of its files
SOURCE_PACKAGES = {"numpy": ("numpy==2.4.6", "numpy/"), "scipy": ("scipy==1.17.1", "scipy/"),
                   "pandas": ("pandas==3.1.2", "pandas/"), "scikit-learn": ("scikit-learn==1.9.1", "sklearn/"),
                   "statsmodels": ("statsmodels==0.15.0", "statsmodels/"),
                   "matplotlib": ("matplotlib==3.11.2", "matplotlib/"), "onnx": ("onnx==1.23.2", "onnx/")}
MIN_CHARS = 100          # shorter files are empty __init__.py files and one-line re-exports
MAX_CHARS = 20_000       # a longer file keeps its first MAX_CHARS characters
TEST_SHARE = 1 / 3
SPLIT_SEED = 20171129    # the Simple RNNs post's date: any fixed number would do


def sources_of(members: dict[str, Callable[[], bytes]], top: str) -> list[str]:
    """The texts of the ``.py`` files under ``top`` in an archive's members, in name order, each cut to
    ``MAX_CHARS``; files shorter than ``MIN_CHARS`` (after stripping) are left out.

    >>> members = {"p/a.py": lambda: b"x = 1", "p/b.py": lambda: b"y" * 150, "p/c.txt": lambda: b"z" * 150}
    >>> [len(t) for t in sources_of(members, "p/")]
    [150]
    """
    texts = []
    for name in sorted(members):
        if name.startswith(top) and name.endswith(".py"):
            text = members[name]().decode("utf-8", errors="replace")
            if len(text.strip()) >= MIN_CHARS:
                texts.append(text[:MAX_CHARS])
    return texts


def split_by_file(by_label: dict[str, list[str]], seed: int = SPLIT_SEED) -> tuple[list[dict], list[dict]]:
    """(train, test) rows ``{"text", "label"}``: exact copies (in any package) dropped, then ``TEST_SHARE`` of
    each label's files drawn for the test set with ``seed``.

    >>> tr, te = split_by_file({"a": ["1", "2", "3"], "b": ["4", "4", "5", "6"]})
    >>> len(tr), len(te), sorted(r["label"] for r in te)
    (4, 2, ['a', 'b'])
    """
    seen: set[str] = set()
    train, test = [], []
    rng = random.Random(seed)
    for label in sorted(by_label):
        texts = []
        for text in by_label[label]:
            key = hashlib.sha1(text.encode("utf-8")).hexdigest()
            if key not in seen:
                seen.add(key)
                texts.append(text)
        rng.shuffle(texts)
        n_test = round(len(texts) * TEST_SHARE)
        test += [{"text": t, "label": label} for t in texts[:n_test]]
        train += [{"text": t, "label": label} for t in texts[n_test:]]
    return train, test


def write_source_files(target: Path, by_label: dict[str, list[str]], versions: dict[str, str]) -> Path:
    """``train.jsonl``, ``test.jsonl`` and ``source_files.json`` in ``target``; returns ``target``."""
    train, test = split_by_file(by_label)
    for part, rows in (("train", train), ("test", test)):
        with open(target / f"{part}.jsonl", "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    lengths = [len(r["text"]) for r in train + test]
    summary = {"packages": versions, "max_chars": MAX_CHARS, "min_chars": MIN_CHARS,
               "train": {label: sum(r["label"] == label for r in train) for label in sorted(by_label)},
               "test": {label: sum(r["label"] == label for r in test) for label in sorted(by_label)},
               "length": {"min": min(lengths), "median": statistics.median(lengths), "mean": statistics.mean(lengths),
                          "max": max(lengths)}}
    (target / "source_files.json").write_text(json.dumps(summary, indent=2) + "\n")
    return target
