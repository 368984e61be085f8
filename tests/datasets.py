"""Small synthetic data files for the CLI and task tests."""
from __future__ import annotations

import math
import random
from pathlib import Path


def text_file(path: Path, n: int = 6000) -> Path:
    rng = random.Random(0)
    words = ["the cat sat on the mat.", "a dog ran in the park.", "we sing and we dance."]
    path.write_text(" ".join(rng.choice(words) for _ in range(n // 20)), encoding="utf-8")
    return path


def sentiment_csv(path: Path, n: int = 300) -> Path:
    rng = random.Random(1)
    good, bad = ["great", "lovely", "good", "happy"], ["awful", "bad", "sad", "terrible"]
    filler = ["the", "film", "was", "really", "quite", "and"]
    lines = ["text,label"]
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        words = [rng.choice(filler) for _ in range(4)] + [rng.choice(good if label == "pos" else bad)]
        rng.shuffle(words)
        lines.append(f"{' '.join(words)},{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ts_file(path: Path, n: int = 60, *, seed: int = 2) -> Path:
    """Two classes of unequal-length bivariate series: a rising sine and a falling one."""
    rng = random.Random(seed)
    lines = ["# synthetic", "@problemName Toy", "@timeStamps false", "@univariate false", "@dimensions 2",
             "@equalLength false", "@classLabel true up down", "@data"]
    for _ in range(n):
        label = rng.choice(["up", "down"])
        T = rng.randint(15, 25)
        sign = 1 if label == "up" else -1
        a = [f"{sign * t / T + 0.1 * rng.gauss(0, 1):.4f}" for t in range(T)]
        b = [f"{math.sin(t / 3) + 0.1 * rng.gauss(0, 1):.4f}" for t in range(T)]
        lines.append(f"{','.join(a)}:{','.join(b)}:{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def ts_folder(folder: Path, *, train: int = 60, test: int = 20) -> Path:
    """An archive-style folder ``NAME/NAME_TRAIN.ts`` and ``NAME/NAME_TEST.ts`` of ``ts_file`` series (seeds 2, 3)."""
    folder.mkdir(parents=True)
    ts_file(folder / f"{folder.name}_TRAIN.ts", n=train, seed=2)
    ts_file(folder / f"{folder.name}_TEST.ts", n=test, seed=3)
    return folder


def series_csv(path: Path, n: int = 400) -> Path:
    rng = random.Random(3)
    lines = ["t,value"]
    for t in range(n):
        lines.append(f"{t},{math.sin(t / 4) * 10 + math.sin(t / 11) * 5 + rng.gauss(0, 0.3):.4f}")
    path.write_text("\n".join(lines) + "\n")
    return path
