"""Time-series archive formats (.ts, UCR 2018 .tsv, old UCR .txt, UEA/Weka .arff) read back the same data."""
import math
import os

import pytest
import torch

from rnnkit.data.series_files import is_series_file, read_series, split_files, write_ts
from rnnkit.errors import UserError

NAN = math.nan


def _series(*cases):
    """(T, D) float32 tensors from lists of dimensions (each a list of values)."""
    return [torch.tensor(dims, dtype=torch.float32).T.contiguous() for dims in cases]


UNI_EQUAL = (_series([[0.5, -1.25, 2.0, 0.1]], [[3.0, 0.0, -0.75, 1e-3]], [[1.5, 2.5, 3.5, 4.5]]), ["1", "2", "1"])
UNI_UNEQUAL = (_series([[0.5, -1.25, 2.0, 0.1, 7.0]], [[3.0, 0.25, -0.75]], [[1.5, 2.5, 3.5, 4.5]]), ["-1", "1", "-1"])
MULTI_UNEQUAL = (_series([[0.5, 1.0, 1.5, 2.0], [-1.0, -2.0, -3.0, -4.0]], [[0.1, 0.2], [5.0, 6.0]],
                         [[9.0, 8.0, 7.0], [0.0, 0.5, 0.25]]), ["up", "down", "up"])
DATASETS = {"uni_equal": UNI_EQUAL, "uni_unequal": UNI_UNEQUAL, "multi_unequal": MULTI_UNEQUAL}


def _num(v: float, missing: str) -> str:
    return missing if math.isnan(v) else repr(v)


def ts_text(series, labels) -> str:
    dims = series[0].shape[1]
    head = ["# written by hand", "@problemName Toy", "@timeStamps false", f"@univariate {str(dims == 1).lower()}",
            f"@dimensions {dims}", "@equalLength false", f"@classLabel true {' '.join(sorted(set(labels)))}", "@data"]
    rows = [":".join(",".join(_num(v, "?") for v in col) for col in s.T.tolist()) + f":{l}"
            for s, l in zip(series, labels)]
    return "\n".join(head + rows) + "\n"


def tsv_text(series, labels) -> str:
    """UCR 2018 style: label first, tabs, shorter series padded with NaN (spelled three ways)."""
    width = max(len(s) for s in series)
    rows = []
    for i, (s, l) in enumerate(zip(series, labels)):
        pad = [("NaN", "nan", "")[i % 3]] * (width - len(s))
        rows.append("\t".join([l] + [_num(v, "NaN") for v in s[:, 0].tolist()] + pad))
    return "\n".join(rows) + "\n"


def txt_text(series, labels) -> str:
    """Old UCR style: float labels, whitespace separated, equal lengths."""
    return "".join("  " + "  ".join(f"{v:.7e}" for v in [float(l)] + s[:, 0].tolist()) + "\n"
                   for s, l in zip(series, labels))


def arff_text(series, labels) -> str:
    """UEA archive style: numeric attributes (univariate) or one relational attribute (multivariate),
    shorter series padded with ? at the end."""
    width, dims = max(len(s) for s in series), series[0].shape[1]
    atts = [f"@attribute att{t} numeric" for t in range(width)]
    head = ["% UEA archive style", "", "@relation Toy", ""]
    head += atts if dims == 1 else ["@attribute relationalAtt relational", *atts, "@end relationalAtt"]
    head += [f"@attribute target {{{','.join(sorted(set(labels)))}}}", "", "@data"]
    rows = []
    for s, l in zip(series, labels):
        cols = [",".join([_num(v, "?") for v in col] + ["?"] * (width - len(s))) for col in s.T.tolist()]
        rows.append((cols[0] if dims == 1 else "'" + "\\n".join(cols) + "'") + f",{l}")
    return "\n".join(head + rows) + "\n"


WRITERS = {".ts": ts_text, ".tsv": tsv_text, ".arff": arff_text, ".txt": txt_text}


def assert_same(got, want):
    (gs, gl), (ws, wl) = got, want
    assert gl == wl and len(gs) == len(ws)
    for g, w in zip(gs, ws):
        assert g.dtype == torch.float32 and g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("name,suffix", [(n, s) for n in DATASETS for s in WRITERS
                                          # UCR .tsv / .txt are univariate, and old .txt files equal-length
                                          if (s not in (".tsv", ".txt") or n != "multi_unequal")
                                          and (s != ".txt" or n == "uni_equal")])
def test_formats_read_back_equal(tmp_path, name, suffix):
    data = DATASETS[name]
    path = tmp_path / f"Toy_TRAIN{suffix}"
    path.write_text(WRITERS[suffix](*data))
    assert_same(read_series(path), data)
    assert_same(read_series(write_ts(tmp_path / "again.ts", *read_series(path))), data)


def test_headers_skip_comments_blank_lines_and_byte_order_marks(tmp_path):
    data = MULTI_UNEQUAL
    ts = ts_text(*data).replace("@problemName Toy", "\ufeff# comment\n\n\ufeff@problemName\tToy")
    (tmp_path / "a.ts").write_text("\ufeff" + ts, encoding="utf-8")
    arff = arff_text(*data).replace("@relation", "\ufeff% a comment\n\n@RELATION")
    arff = arff.replace("@attribute", "@ATTRIBUTE").replace("numeric", "NUMERIC").replace("@data", "\ufeff@Data")
    arff = arff.replace("@end", "@END").replace(" relational\n", " RELATIONAL\n")
    (tmp_path / "a.arff").write_text("\ufeff" + arff, encoding="utf-8")
    for path in (tmp_path / "a.ts", tmp_path / "a.arff"):
        assert_same(read_series(path), data)
    (tmp_path / "a.tsv").write_text("\ufeff# UCR 2018 style\n\n" + tsv_text(*UNI_UNEQUAL), encoding="utf-8")
    assert_same(read_series(tmp_path / "a.tsv"), UNI_UNEQUAL)


def test_missing_values_in_the_middle_stay_nan(tmp_path):
    want = _series([[1.0, NAN, 3.0]])
    (tmp_path / "a.tsv").write_text("1\t1\tNaN\t3\tNaN\t\n")
    (tmp_path / "a.txt").write_text("1,1,,3\n")
    (tmp_path / "a.arff").write_text("@relation x\n@attribute a numeric\n@attribute b numeric\n@attribute c numeric\n"
                                     "@attribute d numeric\n@attribute y {1}\n@data\n1,?,3,?,1\n")
    for suffix in (".tsv", ".txt", ".arff"):
        assert_same(read_series(tmp_path / f"a{suffix}"), (want, ["1"]))
    # a dimension that stops before the others is missing there, the series keeps its full length
    (tmp_path / "m.arff").write_text("@relation x\n@attribute r relational\n@attribute a numeric\n"
                                     "@attribute b numeric\n@attribute c numeric\n@end r\n"
                                     "@attribute y {'p q'}\n@data\n'1,?,3\\n4,?,?','p q'\n")
    assert_same(read_series(tmp_path / "m.arff"), (_series([[1.0, NAN, 3.0], [4.0, NAN, NAN]]), ["p q"]))


def test_float_labels_of_old_ucr_files_are_shortened_consistently(tmp_path):
    (tmp_path / "a.txt").write_text(" 1.0000000e+00 2 3\n 2.5000000e+00 4 5\n-1.0000000e+00 6 7\n")
    assert read_series(tmp_path / "a.txt")[1] == ["1", "2.5", "-1"]
    (tmp_path / "b.txt").write_text("1.0,2,3\nb,4,5\n")                # not all numbers: kept as written
    assert read_series(tmp_path / "b.txt")[1] == ["1.0", "b"]


def test_split_files_chooses_the_folder_name_and_the_preferred_format(tmp_path):
    folder = tmp_path / "Prob"
    folder.mkdir()
    assert split_files(folder) is None and split_files(tmp_path / "nothing") is None
    (folder / "Other_TRAIN.ts").write_text("x")
    assert split_files(folder) == (folder / "Other_TRAIN.ts", None)
    for name in ("Prob_TRAIN.txt", "Prob_TEST.txt", "Prob_TRAIN.tsv", "Prob_TEST.tsv"):
        (folder / name).write_text("x")
    assert split_files(folder) == (folder / "Prob_TRAIN.tsv", folder / "Prob_TEST.tsv")
    (folder / "Prob_TRAIN.arff").write_text("x")                      # .arff before .tsv, its test is absent
    assert split_files(folder) == (folder / "Prob_TRAIN.arff", None)
    (folder / "Prob_TRAIN.ts").write_text("x")
    (folder / "Prob_TEST.ts").write_text("x")
    assert split_files(folder) == (folder / "Prob_TRAIN.ts", folder / "Prob_TEST.ts")
    other = tmp_path / "Elsewhere"
    other.mkdir()
    (other / "B_TRAIN.txt").write_text("x")
    (other / "A_TRAIN.txt").write_text("x")
    (other / "A_TEST.txt").write_text("x")
    assert split_files(other) == (other / "A_TRAIN.txt", other / "A_TEST.txt")


def test_is_series_file_tells_series_from_text(tmp_path):
    (tmp_path / "text.tsv").write_text("text\tlabel\ngood film\tpos\n")
    (tmp_path / "text.csv").write_text("text,label\ngood film,pos\n")
    (tmp_path / "numbers.txt").write_text("1 2 3\n")
    (tmp_path / "ucr.tsv").write_text("# comment\n\ufeff1\t0.5\t1.5\tNaN\n")
    (tmp_path / "padding.tsv").write_text("1\tNaN\t\n")
    (tmp_path / "a.ts").write_text("x")
    (tmp_path / "a.arff").write_text("x")
    (tmp_path / "Prob").mkdir()
    (tmp_path / "Prob" / "Prob_TRAIN.txt").write_text("1 2 3\n")
    (tmp_path / "empty").mkdir()
    verdict = {p: is_series_file(tmp_path / p) for p in ("text.tsv", "text.csv", "numbers.txt", "ucr.tsv",
                                                         "padding.tsv", "a.ts", "a.arff", "Prob", "empty", "no.tsv")}
    assert verdict == {"text.tsv": False, "text.csv": False, "numbers.txt": False, "ucr.tsv": True,
                       "padding.tsv": False, "a.ts": True, "a.arff": True, "Prob": True, "empty": False,
                       "no.tsv": False}


def test_write_ts_round_trip_and_atomic_replace(tmp_path, monkeypatch):
    g = torch.Generator().manual_seed(0)
    series = [torch.randn(7, 3, generator=g) * 10 ** torch.randint(-8, 8, (1,), generator=g).item(),
              torch.randn(2, 3, generator=g)]
    series[1][0, 1] = NAN
    series[1][1, 2] = NAN                                         # no padding in .ts: a last NaN stays
    labels = ["b", "a"]
    path = write_ts(tmp_path / "out" / "X_TRAIN.ts", series, labels, name="X")
    assert_same(read_series(path), (series, labels))
    assert "@classLabel true a b" in path.read_text()
    assert_same(read_series(write_ts(tmp_path / "u.ts", [torch.arange(4.0)] * 2, ["1", "2"])),
                (_series([[0.0, 1.0, 2.0, 3.0]]) * 2, ["1", "2"]))
    before = path.read_text()

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_ts(path, series[:1], ["z"])
    assert path.read_text() == before and sorted(os.listdir(path.parent)) == ["X_TRAIN.ts"]
    with pytest.raises(UserError, match="without spaces or ':'"):
        write_ts(tmp_path / "bad.ts", series, ["a b", "c"])
    assert not (tmp_path / "bad.ts").exists()


ARFF_UNI = "@relation x\n@attribute a numeric\n@attribute b numeric\n@attribute y {p,q}\n@data\n"
ARFF_MULTI = "@relation x\n@attribute r relational\n@attribute t0 numeric\n@end r\n@attribute y {p,q}\n@data\n"


@pytest.mark.parametrize("suffix,text,line,fragment", [
    (".tsv", "1\t0.5\t2\n2\t0.5\tabc\n", 2, "received 'abc'"),
    (".tsv", "1\t0.5\n\n7\n", 3, "expected a label then tab-separated numbers"),
    (".tsv", "1\t0.5\n2\tNaN\tnan\t\n", 2, "only missing values"),
    (".tsv", "\t1\t2\n", 1, "expected a label"),
    (".tsv", "1\t2\tinf\n", 1, "received 'inf'"),
    (".txt", "1 2 3\n2 x 3\n", 2, "received 'x'"),
    (".ts", "@problemName x\n@classLabel true a\n@data\n1,2:a\n1,b:a\n", 5, "received 'b'"),
    (".arff", ARFF_UNI + "1,2,p\n1,2,'q\n", 7, "closing ' quote"),
    (".arff", ARFF_UNI + "1,2,p\n1,p\n", 7, "expected 3 comma-separated values"),
    (".arff", ARFF_UNI + "1,x,p\n", 6, "received 'x'"),
    (".arff", ARFF_UNI + "1,2,r\n", 6, "received 'r'"),
    (".arff", ARFF_UNI + "1,2,?\n", 6, "expected a class label"),
    (".arff", ARFF_UNI + "{0 1, 2 p}\n", 6, "sparse"),
    (".arff", "@relation x\nnonsense\n@data\n", 2, "received 'nonsense'"),
    (".arff", "@relation x\n@attribute a numbr\n@data\n", 2, "expected a type"),
    (".arff", "@relation x\n@attribute r relational\n@attribute t numeric\n@end s\n", 4, "received @end 's'"),
    (".arff", "@relation x\n@attribute r relational\n@attribute t numeric\n@data\n", 4, "expected @end r"),
    (".arff", ARFF_MULTI + "'1\\n2',p\n'1\\n2\\n3',q\n", 8, "expected 2 dimensions"),
    (".arff", ARFF_MULTI + "'1\\n2',p\n'?\\n?',q\n", 8, "only missing values"),
    (".arff", ARFF_MULTI + "'1\\n2,z',p\n", 7, "received 'z'"),
])
def test_broken_files_get_one_line_naming_file_and_line(tmp_path, suffix, text, line, fragment):
    path = tmp_path / f"X_TRAIN{suffix}"
    path.write_text(text)
    with pytest.raises(UserError) as caught:
        read_series(path)
    message = str(caught.value)
    assert "\n" not in message and f"line {line} " in message and "X_TRAIN" in message and fragment in message
    assert caught.value.__cause__ is None and (caught.value.__context__ is None or caught.value.__suppress_context__)


@pytest.mark.parametrize("suffix,text,fragment", [
    (".arff", "@relation x\n@attribute a numeric\n", "expected an @data line"),
    (".arff", "@relation x\n@attribute a numeric\n@attribute y numeric\n@data\n1,2\n", "to be the class label"),
    (".arff", ARFF_UNI + "% nothing\n", "at least one data row"),
    (".arff", "@relation x\n@attribute s string\n@attribute y {p}\n@data\n", "expected numeric attributes"),
    (".tsv", "# only a comment\n", "at least one series"),
    (".csv", "a,b\n", "expected a time-series file ending"),
])
def test_broken_files_without_a_line_get_one_line_naming_file(tmp_path, suffix, text, fragment):
    path = tmp_path / f"X_TRAIN{suffix}"
    path.write_text(text)
    with pytest.raises(UserError) as caught:
        read_series(path)
    message = str(caught.value)
    assert "\n" not in message and "X_TRAIN" in message and fragment in message
