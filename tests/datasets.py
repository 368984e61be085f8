"""Small synthetic data files for the CLI and task tests."""
from __future__ import annotations

import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image


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


# ------------------------------------------------------------------ tagged sentences (CoNLL-U)
LEXICON = {"DET": ["the", "a"], "NOUN": ["cat", "dog", "mat", "park"], "VERB": ["sat", "ran", "saw"],
           "ADP": ["on", "in"], "ADJ": ["big", "red"]}
TEMPLATES = [["DET", "NOUN", "VERB"], ["DET", "ADJ", "NOUN", "VERB", "ADP", "DET", "NOUN"], ["NOUN", "VERB"]]


def tagged_sentences(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        tags = rng.choice(TEMPLATES) + ["PUNCT"]
        out.append(([rng.choice(LEXICON[t]) if t != "PUNCT" else "." for t in tags], tags))
    return out


def conllu_file(path, n: int = 40, seed: int = 0):
    """A treebank file: comments, and in every fifth sentence a multiword token and an empty node."""
    lines = []
    for k, (words, tags) in enumerate(tagged_sentences(n, seed)):
        lines += [f"# sent_id = {k + 1}", f"# text = {' '.join(words)}"]
        for i, (w, t) in enumerate(zip(words, tags), 1):
            if k % 5 == 0 and i == 1:
                lines.append(f"1-2\t{w}{words[1]}\t_\t_\t_\t_\t_\t_\t_\t_")
            lines.append(f"{i}\t{w}\t{w}\t{t}\t{t.lower()}\t_\t{max(i - 1, 0)}\tdep\t_\t_")
            if k % 5 == 0 and i == 1:
                lines.append("1.1\tghost\t_\t_\t_\t_\t_\t_\t_\t_")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------ captioned images
def caption_folder(folder: Path, n: int) -> None:
    """Canvases of bars: a caption word per bar, its height the word ("one" short, "three" tall)."""
    rng = np.random.default_rng(5)
    (folder / "images").mkdir(parents=True)
    for part, count in (("train", n), ("test", 8)):
        lines = []
        for k in range(count):
            words = [["one", "two", "three"][i] for i in rng.integers(0, 3, size=int(rng.integers(1, 4)))]
            canvas = np.zeros((12, 8 * len(words)), dtype=np.uint8)
            for j, w in enumerate(words):
                canvas[12 - 4 * (["one", "two", "three"].index(w) + 1):, 8 * j + 2:8 * j + 6] = 255
            Image.fromarray(canvas).save(folder / "images" / f"{part}{k}.png")
            lines.append(f"images/{part}{k}.png\t{' '.join(words)}")
        (folder / f"{part}.tsv").write_text("\n".join(lines) + "\n")


def rnnkit_process(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rnnkit", *map(str, args)], capture_output=True, text=True, cwd=cwd)
