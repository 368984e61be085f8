r"""Time-series classification files in the archives' own formats, read as ``(series, labels)``.

Every reader gives a list of float32 ``(T, D)`` tensors (a missing value is NaN) and the labels as
strings. Blank lines are skipped, and so is a UTF-8 byte-order mark at the start of the file or of
any line (files concatenated from several UTF-8 files carry one per part).

``.ts`` (UCR/UEA, sktime): ``@key value`` header then ``dim1:dim2:...:label`` lines; read by
:func:`rnnkit.data.tsfile.parse_ts`. ``#`` starts a comment line.

``.tsv`` (UCR 2018 archive): one univariate series per line, the label first, then tab-separated
values. Shorter series are padded at the end with ``NaN`` (or empty fields); a NaN before the last
number is a missing value and stays NaN.

>>> series, labels = parse_tsv('1\t0.5\t1.5\t2.5\n2\t3\tNaN\t4\tNaN\tNaN\n')
>>> [s.flatten().tolist() for s in series], labels
([[0.5, 1.5, 2.5], [3.0, nan, 4.0]], ['1', '2'])

``.txt`` (the UCR archive before 2018): the label first, then the values, separated by commas or by
whitespace. Labels written as floats (``1.0000000e+00``) are read as their shortest exact form (``1``)
when every label in the file is a number, so the train and test files of a problem agree.

>>> parse_txt('  1.0000000e+00  -1.5  2.0\n  2.0000000e+00  0.25  0.5\n')[1]
['1', '2']

``.arff`` (Weka ARFF, as the UEA archive writes it): ``%`` comment lines, then ``@relation``,
``@attribute`` lines and ``@data`` (keywords in any case); the class is the last attribute, nominal.
Univariate files have one numeric attribute per time step; multivariate files one relational
attribute (``@attribute name relational`` ... ``@end name``) whose value is a quoted string holding
one dimension per row, rows separated by an escaped ``\n``. ``?`` is a missing value; ``?`` at the end
of every dimension is padding of a shorter series.

>>> series, labels = parse_arff(r'''% two dimensions, the second case shorter
... @relation Toy
... @attribute motion relational
...   @attribute t0 numeric
...   @attribute t1 numeric
...   @attribute t2 numeric
... @end motion
... @attribute activity {walk,run}
... @data
... '1,2,3\n4,5,6',walk
... '7,8,?\n9,10,?',run''')
>>> [tuple(s.shape) for s in series], labels
([(3, 2), (2, 2)], ['walk', 'run'])
>>> series[1].tolist()
[[7.0, 9.0], [8.0, 10.0]]

:func:`split_files` finds a problem folder's ``NAME_TRAIN``/``NAME_TEST`` pair in any of these formats,
:func:`is_series_file` tells series data from labelled text, and :func:`write_ts` writes a ``.ts`` file.
"""
from __future__ import annotations

import math
import os
import re
import secrets
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import UserError
from .text import check_file
from .tsfile import clean_line, parse_ts

SUFFIXES = (".ts", ".arff", ".tsv", ".txt")      # when one name comes in several formats, the first is read
_NUMERIC = ("numeric", "real", "integer")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}     # ARFF's escapes inside quotes; any other \c is c itself


# ----------------------------------------------------------------------------- values

def _number(token: str) -> float:
    """One value: ``?``, empty, or ``NaN`` is missing. Infinities and ``1_000`` (which Python's ``float``
    takes) are refused: no archive writes them, and an infinity would poison normalisation."""
    token = token.strip()
    if token in ("", "?"):
        return math.nan
    if "_" in token:
        raise ValueError(token)
    value = float(token)
    if math.isinf(value):
        raise ValueError(token)
    return value


def _numbers(tokens: list[str]) -> tuple[list[float], str | None]:
    """The values of ``tokens``, or ``None`` values and the first token that is not a number."""
    values = []
    for t in tokens:
        try:
            values.append(_number(t))
        except ValueError:
            return [], t.strip()
    return values, None


def _trim(values: list[float]) -> list[float]:
    """``values`` without the trailing missing values that pad a shorter series to the file's width."""
    end = len(values)
    while end and math.isnan(values[end - 1]):
        end -= 1
    return values[:end]


def _lines(text: str):
    """(1-based line number, line) for every physical line; ``\r\n`` and ``\r`` end lines too."""
    return enumerate(re.split(r"\r\n|\r|\n", text), 1)


def _short(line: str) -> str:
    return repr(line[:40] + ("..." if len(line) > 40 else ""))


# ----------------------------------------------------------------------------- UCR 2018 .tsv and old .txt

def _tsv_row(raw: str) -> tuple[str, list[str]]:
    """(label, value fields) of one ``.tsv`` line. Only byte-order marks and line ends are stripped:
    a leading tab means an empty label, and trailing tabs are empty (padding) fields."""
    line = raw.strip("\r\n").lstrip("\ufeff")
    label, *fields = line.split("\t")
    return label.strip(), fields


def parse_tsv(text: str, where: str = "the .tsv data") -> tuple[list[Tensor], list[str]]:
    """Univariate series of a UCR 2018 archive ``.tsv`` file: ``label<TAB>v1<TAB>v2...`` per line."""
    series, labels = [], []
    for n, raw in _lines(text):
        line = clean_line(raw)
        if not line or line.startswith("#"):
            continue
        label, fields = _tsv_row(raw)
        if not label or not fields:
            raise UserError(f"expected a label then tab-separated numbers on line {n} of {where}; received "
                            f"{_short(line)}")
        values, bad = _numbers(fields)
        if bad is not None:
            raise UserError(f"expected tab-separated numbers after the label on line {n} of {where}; "
                            f"received {_short(bad)}")
        series.append(_univariate(values, n, where))
        labels.append(label)
    if not series:
        raise UserError(f"expected at least one series (label then values) in {where}; found none")
    return series, labels


def parse_txt(text: str, where: str = "the .txt data") -> tuple[list[Tensor], list[str]]:
    """Univariate series of an old UCR archive file: the label first, then values, comma or whitespace
    separated; labels written as floats become their shortest exact form when all labels are numbers."""
    series, labels = [], []
    for n, raw in _lines(text):
        line = clean_line(raw)
        if not line or line.startswith("#"):
            continue
        fields = line.split(",") if "," in line else line.split()
        label = fields[0].strip()
        if not label or len(fields) < 2:
            raise UserError(f"expected a label then numbers separated by commas or whitespace on line {n} of "
                            f"{where}; received {_short(line)}")
        values, bad = _numbers(fields[1:])
        if bad is not None:
            raise UserError(f"expected numbers separated by commas or whitespace after the label on line {n} of "
                            f"{where}; received {_short(bad)}")
        series.append(_univariate(values, n, where))
        labels.append(label)
    if not series:
        raise UserError(f"expected at least one series (label then values) in {where}; found none")
    return series, _float_labels(labels)


def _univariate(values: list[float], n: int, where: str) -> Tensor:
    values = _trim(values)
    if not values:
        raise UserError(f"expected at least one value after the label on line {n} of {where}; received only "
                        f"missing values (padding)")
    return torch.tensor(values, dtype=torch.float32).unsqueeze(1)


def _float_labels(labels: list[str]) -> list[str]:
    """Labels as the old UCR archive writes them (``1.0000000e+00``) in their shortest exact form (``1``);
    only when every label is a finite number, so one file never mixes written and rewritten labels."""
    try:
        values = [float(l) for l in labels]
    except ValueError:
        return labels
    if any("_" in l for l in labels) or not all(math.isfinite(v) for v in values):
        return labels
    return [str(int(v)) if v.is_integer() else repr(v) for v in values]


# ----------------------------------------------------------------------------- Weka ARFF (UEA archive)

# one field of an ARFF line: a quoted value (backslash escapes inside) or a bare one, then a comma or the end;
# a regular expression, not a loop over characters: UEA files hold lines of megabytes
_FIELD = re.compile(r"""[ \t]*(?:'([^'\\]*(?:\\.[^'\\]*)*)'|"([^"\\]*(?:\\.[^"\\]*)*)"|((?:[^,'"][^,]*)?))"""
                    r"""[ \t]*(,|\Z)""", re.S)
_QUOTED = re.compile(r"""'[^'\\]*(?:\\.[^'\\]*)*'|"[^"\\]*(?:\\.[^"\\]*)*["]""", re.S)


def _arff_fields(text: str) -> list[str]:
    """Comma-separated fields of an ARFF data line or nominal list; quoted fields (``'...'`` or ``"..."``)
    unquoted and unescaped. Raises ValueError saying what is wrong."""
    fields, i = [], 0
    while True:
        m = _FIELD.match(text, i)
        if m is None:
            rest = text[i:].lstrip(" \t")
            quoted = _QUOTED.match(rest)
            if quoted is None:
                raise ValueError(f"a closing {rest[:1]} quote")
            raise ValueError(f"a comma after the quoted value, not {rest[quoted.end():].strip()[:20]!r}")
        single, double, bare, comma = m.groups()
        if bare is not None:
            fields.append(bare.strip())
        else:
            quoted = single if single is not None else double
            fields.append(re.sub(r"\\(.)", lambda e: _ESCAPES.get(e.group(1), e.group(1)), quoted, flags=re.S)
                          if "\\" in quoted else quoted)
        if not comma:
            return fields
        i = m.end()


def _arff_name(rest: str) -> tuple[str, str]:
    """(attribute name, the rest) of what follows ``@attribute``; a quoted name may hold spaces."""
    rest = rest.strip()
    if rest[:1] in ("'", '"'):
        end = rest.find(rest[0], 1)
        if end < 0:
            raise ValueError(f"a closing {rest[0]} quote after the attribute name")
        return rest[1:end], rest[end + 1:].strip()
    name, kind = (rest.split(None, 1) + ["", ""])[:2]
    return name, kind.strip()


def _arff_type(kind: str) -> tuple[str, list[str] | None]:
    """("numeric" | "nominal" | "string" | "date" | "relational", nominal values) of an attribute type."""
    if kind.startswith("{"):
        if not kind.endswith("}"):
            raise ValueError("a closing } after the nominal values")
        return "nominal", [v.strip() for v in _arff_fields(kind[1:-1])]
    word = kind.split()[0].lower() if kind.split() else ""
    if word in _NUMERIC:
        return "numeric", None
    if word in ("string", "date", "relational"):
        return word, None
    raise ValueError("a type (numeric, real, integer, string, date, relational or {values})")


def parse_arff(text: str, where: str = "the .arff data") -> tuple[list[Tensor], list[str]]:
    """Series of a Weka ARFF file as the UEA archive writes it (see the module docstring)."""
    attributes: list[tuple[str, str, list[str] | None]] = []      # (name, kind, nominal values), top level
    relational: tuple[str, list[str], int] | None = None             # (name, inner kinds, line) while open
    body = None
    lines = list(_lines(text))
    for k, (n, raw) in enumerate(lines):
        line = clean_line(raw)
        if not line or line.startswith("%"):
            continue
        if not line.startswith("@"):
            raise UserError(f"expected @relation, @attribute or @data before the data on line {n} of {where}; "
                            f"received {_short(line)}")
        word, rest = (line[1:].split(None, 1) + ["", ""])[:2]
        word = word.lower()
        if word == "relation":
            continue
        if word == "data":
            if relational is not None:
                raise UserError(f"expected @end {relational[0]} before @data on line {n} of {where}; the relational "
                                f"attribute opened on line {relational[2]} is not closed")
            body = lines[k + 1:]
            break
        if word == "end":
            name = rest.strip().strip("'\"")
            if relational is None or name != relational[0]:
                raise UserError(f"expected @end to close an open relational attribute on line {n} of {where}; "
                                f"received @end {name!r}" + (f" while {relational[0]!r} is open" if relational else ""))
            if not relational[1] or any(kind != "numeric" for kind in relational[1]):
                raise UserError(f"expected numeric attributes inside relational attribute {relational[0]!r} "
                                f"(line {relational[2]}) of {where}; received {relational[1] or 'none'}")
            attributes.append((relational[0], "relational", None))
            relational = None
            continue
        if word != "attribute":
            raise UserError(f"expected @relation, @attribute, @end or @data on line {n} of {where}; received "
                            f"@{word}")
        try:
            name, kind_text = _arff_name(rest)
            kind, values = _arff_type(kind_text)
        except ValueError as e:
            raise UserError(f"expected {e} on line {n} of {where}; received {_short(line)}") from None
        if kind == "relational":
            if relational is not None:
                raise UserError(f"expected no relational attribute inside another on line {n} of {where}; "
                                f"received {name!r} inside {relational[0]!r}")
            relational = (name, [], n)
        elif relational is not None:
            relational[1].append(kind)
        else:
            attributes.append((name, kind, values))
    if body is None:
        raise UserError(f"expected an @data line ending the header of {where}; found none")
    if not attributes or attributes[-1][1] not in ("nominal", "string"):
        last = f"{attributes[-1][1]} attribute {attributes[-1][0]!r}" if attributes else "no attributes"
        raise UserError(f"expected the last @attribute of {where} to be the class label (nominal {{...}}); "
                        f"received {last}")
    name, _, declared = attributes[-1]
    features = [kind for _, kind, _ in attributes[:-1]]
    multivariate = "relational" in features
    if multivariate and features != ["relational"]:
        raise UserError(f"expected one relational attribute then the class in {where}; received attributes of "
                        f"kinds {features}")
    if not multivariate and (not features or any(kind != "numeric" for kind in features)):
        raise UserError(f"expected numeric attributes (one per time step) then the class in {where}; received "
                        f"{sorted(set(features)) or 'none'}")

    series, labels, dims = [], [], None
    for n, raw in body:
        line = clean_line(raw)
        if not line or line.startswith("%"):
            continue
        if line.startswith("{"):
            raise UserError(f"expected a dense data row on line {n} of {where}; received a sparse one "
                            f"{_short(line)}, which is not supported")
        try:
            fields = _arff_fields(line)
        except ValueError as e:
            raise UserError(f"expected {e} on line {n} of {where}; received {_short(line)}") from None
        if len(fields) != len(attributes):
            raise UserError(f"expected {len(attributes)} comma-separated values (one per @attribute) on line {n} "
                            f"of {where}; received {len(fields)}")
        label = fields[-1].strip()
        if label in ("", "?"):
            raise UserError(f"expected a class label at the end of line {n} of {where}; received "
                            f"{'a missing one (?)' if label else 'nothing'}")
        if declared is not None and label not in declared:
            raise UserError(f"expected a label from @attribute {name} {{{','.join(declared)}}} on line {n} of "
                            f"{where}; received {label!r}")
        if multivariate:
            rows = [row for row in fields[0].split("\n") if row.strip()]
            columns = []
            for row in rows:
                values, bad = _numbers(row.split(","))
                if bad is not None:
                    raise UserError(f"expected comma-separated numbers in the relational value on line {n} of "
                                    f"{where}; received {_short(bad)}")
                columns.append(_trim(values))
            dims = dims or (len(columns), n)
            if len(columns) != dims[0]:
                raise UserError(f"expected {dims[0]} dimensions (rows separated by \\n) on line {n} of {where}, "
                                f"as on line {dims[1]}; received {len(columns)}")
            length = max((len(c) for c in columns), default=0)
            if not length:
                raise UserError(f"expected at least one value in the relational value on line {n} of {where}; "
                                f"received only missing values (padding)")
            # a dimension that ends earlier than the others has missing values there, not a shorter series
            columns = [c + [math.nan] * (length - len(c)) for c in columns]
            series.append(torch.tensor(columns, dtype=torch.float32).T.contiguous())
        else:
            values, bad = _numbers(fields[:-1])
            if bad is not None:
                raise UserError(f"expected comma-separated numbers before the label on line {n} of {where}; "
                                f"received {_short(bad)}")
            series.append(_univariate(values, n, where))
        labels.append(label)
    if not series:
        raise UserError(f"expected at least one data row after @data in {where}; found none")
    return series, labels


# ----------------------------------------------------------------------------- files and folders

def read_series(path: str | Path) -> tuple[list[Tensor], list[str]]:
    """(series as float32 (T, D) tensors, labels) of a ``.ts``, ``.tsv``, ``.arff`` or ``.txt`` file."""
    path = check_file(path, "a time-series file (.ts, .tsv, .arff or .txt)")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(f"expected a time-series file ending .ts, .tsv, .arff or .txt; received {path}")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    if suffix == ".ts":
        series, labels, _ = parse_ts(text, str(path))
        return series, labels
    return {".tsv": parse_tsv, ".txt": parse_txt, ".arff": parse_arff}[suffix](text, str(path))


def split_files(folder: str | Path) -> tuple[Path, Path | None] | None:
    """(train file, test file or None) of a problem folder holding ``*_TRAIN.{ts,arff,tsv,txt}``, as the
    UCR and UEA archives ship them: ``<folder name>_TRAIN`` first, else the first name in order; of
    several formats, ``.ts`` then ``.arff``, ``.tsv``, ``.txt``. None when the folder holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found: dict[str, dict[str, Path]] = {}
    for p in folder.iterdir():
        if p.suffix.lower() in SUFFIXES and p.stem.endswith("_TRAIN") and p.is_file():
            found.setdefault(p.stem, {})[p.suffix.lower()] = p
    if not found:
        return None
    own = f"{folder.resolve().name}_TRAIN"
    stem = own if own in found else min(found)
    train = next(found[stem][s] for s in SUFFIXES if s in found[stem])
    test = train.with_name(stem[: -len("_TRAIN")] + "_TEST" + train.suffix)
    return train, test if test.is_file() else None


def is_series_file(path: str | Path) -> bool:
    """Whether ``path`` holds series rather than labelled text: a ``.ts`` or ``.arff`` file, a ``.tsv`` file
    whose first line is a label then numbers (a text TSV has a ``text``/``label`` header), or a problem
    folder (:func:`split_files`). A loose ``.txt`` is text; only a folder's ``_TRAIN.txt`` is series."""
    path = Path(path)
    if path.is_dir():
        return split_files(path) is not None
    suffix = path.suffix.lower()
    if suffix in (".ts", ".arff"):
        return True
    return suffix == ".tsv" and _looks_like_ucr_tsv(path)


def _looks_like_ucr_tsv(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            for raw in f:
                line = clean_line(raw)
                if not line or line.startswith("#"):
                    continue
                label, fields = _tsv_row(raw)
                values, bad = _numbers(fields)
                return bool(label) and bad is None and not all(math.isnan(v) for v in values)
    except OSError:
        return False
    return False


# ----------------------------------------------------------------------------- writing .ts

def _format(column: np.ndarray) -> list[str]:
    """Shortest decimal strings that read back as the same float32 values; ``?`` for NaN."""
    texts = [str(v) for v in column]                      # numpy's shortest round-trip form of a float32
    back = np.array([float(t) for t in texts], dtype=np.float64).astype(np.float32)
    nan = np.isnan(column)
    for i in np.flatnonzero((back != column) & ~nan):     # a double rounding on the way back: write exactly
        texts[i] = repr(float(column[i]))
    for i in np.flatnonzero(nan):
        texts[i] = "?"
    return texts


def write_ts(path: str | Path, series, labels, name: str = "data") -> Path:
    """Write ``series`` ((T, D) or (T,) tensors or arrays) and ``labels`` as a ``.ts`` file that
    :func:`read_series` reads back equal. The text goes to a temporary file beside ``path`` that is then
    renamed over it, so an interrupted write never leaves a half-written file."""
    path = Path(path)
    series = [torch.as_tensor(s, dtype=torch.float32) for s in series]
    series = [s.unsqueeze(1) if s.dim() == 1 else s for s in series]
    labels = [str(l) for l in labels]
    if not series or len(series) != len(labels):
        raise UserError(f"expected as many labels as series (at least one) to write {path}; received "
                        f"{len(series)} series and {len(labels)} labels")
    bad = next((s for s in series if s.dim() != 2 or 0 in s.shape), None)
    if bad is not None:
        raise UserError(f"expected each series to write to {path} shaped (T, D) with T, D >= 1; received "
                        f"{tuple(bad.shape)}")
    dims = {s.shape[1] for s in series}
    if len(dims) != 1:
        raise UserError(f"expected every series written to {path} to have the same dimensions; received "
                        f"{sorted(dims)}")
    bad = next((l for l in labels if not l or any(c.isspace() or c == ":" for c in l)), None)
    if bad is not None:
        raise UserError(f"expected labels without spaces or ':' to write a .ts file {path}; received {bad!r}")
    if not name.strip() or "\n" in name or "\r" in name:
        raise UserError(f"expected a one-line problem name to write {path}; received {name!r}")
    lengths = {s.shape[0] for s in series}
    header = [f"@problemName {name.strip()}", "@timeStamps false",
              f"@missing {str(any(bool(s.isnan().any()) for s in series)).lower()}",
              f"@univariate {str(dims == {1}).lower()}", f"@dimensions {dims.pop()}",
              f"@equalLength {str(len(lengths) == 1).lower()}"]
    if len(lengths) == 1:
        header.append(f"@seriesLength {lengths.pop()}")
    header += [f"@classLabel true {' '.join(sorted(set(labels)))}", "@data"]
    rows = [":".join(",".join(_format(column)) for column in s.T.contiguous().numpy()) + f":{label}"
            for s, label in zip(series, labels)]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "x", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(header + rows) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
