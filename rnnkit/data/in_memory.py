"""Data given in Python, written as the files the tasks read, so that data in memory and the same data in a
file train the same run bit for bit.

Examples are texts (a list of strings) or series: a 2D array (N, T) of N univariate series, a 3D array
(N, D, T) as sktime and aeon hold them, or a list of (T, D) or (T,) arrays of any lengths (numpy, torch or
nested lists). Series are read as float32, the files' type; NaN is a missing value, as ``?`` in a file.

>>> kind, xs = examples([[1, 2, 3], [4, 5]])
>>> kind, [x.shape for x in xs]
('series', [(3, 1), (2, 1)])
>>> label_names([2, 10, 2, "a b"])                 # a name with a space cannot be a .ts label: all are numbered
(['class0', 'class1', 'class0', 'class2'], [('class0', 2), ('class1', 10), ('class2', 'a b')])
"""
from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np

from ..runtime.checkpoint import atomic_write_bytes
from ..errors import UserError
from .series_files import write_ts


def _numpy(x):
    """A torch tensor (on the CPU) or a pandas Series or DataFrame as numpy; anything else as it is."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        return x.detach().cpu().numpy()
    if hasattr(x, "to_numpy"):
        return x.to_numpy()
    return x


def _reals(x, where: str) -> np.ndarray:
    """``x`` as float64 (exact for every integer and float type), or one clear error."""
    a = np.asarray(_numpy(x))
    try:
        if np.iscomplexobj(a) or (a.dtype.kind not in "biuf" and a.dtype != object):
            raise TypeError(f"{a.dtype} values")
        return a.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise UserError(f"expected real numbers in {where}; received {str(e).splitlines()[0][:60]}") from None


def _floats(x, where: str) -> np.ndarray:
    """Series values as float32, the files' type; NaN is a missing value, an infinity is refused."""
    a = _reals(x, where)
    if np.isinf(a).any():
        raise UserError(f"expected finite numbers (or NaN for a missing value) in {where}; received an infinity")
    return a.astype(np.float32)


def _is_texts(x) -> bool:
    if isinstance(x, np.ndarray) and x.ndim != 1:
        return False
    return isinstance(x, (list, tuple, np.ndarray)) and len(x) > 0 and all(isinstance(t, str) for t in x)


def examples(x, where: str = "X") -> tuple[str, list]:
    """("text", the strings) or ("series", float32 (T, D) arrays, D alike) of ``x``; one clear error otherwise."""
    if isinstance(x, (str, bytes)):
        raise UserError(f"expected a collection of examples in {where}; received one {type(x).__name__} "
                        f"(wrap it in a list)")
    x = _numpy(x)                                    # a DataFrame's rows are series, as a 2D array's
    if _is_texts(x):
        return "text", [str(t) for t in x]
    if isinstance(x, np.ndarray) and x.dtype != object:
        if x.ndim == 2:
            series = list(_floats(x, where)[:, :, None])                           # (N, T) -> N of (T, 1)
        elif x.ndim == 3:
            series = list(_floats(x, where).transpose(0, 2, 1))                    # (N, D, T) -> N of (T, D)
        else:
            raise UserError(f"expected texts, a 2D array (N, T), a 3D array (N, D, T) or a list of (T, D) series "
                            f"in {where}; received an array of shape {x.shape}")
    else:
        try:
            items = list(x)
        except TypeError:
            raise UserError(f"expected texts or series in {where}; received {type(x).__name__}") from None
        series = []
        for i, s in enumerate(items):
            s = _floats(s, f"{where}[{i}]")
            if s.ndim not in (1, 2):
                raise UserError(f"expected each series of {where} shaped (T,) or (T, D); {where}[{i}] has shape "
                                f"{s.shape}")
            series.append(s[:, None] if s.ndim == 1 else s)
    if not series:
        raise UserError(f"expected at least one example in {where}; received none")
    bad = next((i for i, s in enumerate(series) if 0 in s.shape), None)
    if bad is not None:
        raise UserError(f"expected series of at least one step and one dimension in {where}; {where}[{bad}] has "
                        f"shape {series[bad].shape}")
    dims = sorted({s.shape[1] for s in series})
    if len(dims) > 1:
        raise UserError(f"expected every series of {where} to have the same dimensions; received {dims}")
    return "series", [np.ascontiguousarray(s) for s in series]


def _plain(v):
    """A label as JSON holds it: a numpy scalar as its Python value; anything JSON cannot hold as its text."""
    v = v.item() if isinstance(v, np.generic) else v
    return v if isinstance(v, (str, int, float, bool)) else str(v)


def _valid_name(name: str) -> bool:
    """A label every reader takes back unchanged: ``.ts`` (no spaces, no ':'), CSV and JSONL."""
    return bool(name) and name == name.strip() and not any(c.isspace() or c == ":" for c in name)


def _hashable(v) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def label_names(y) -> tuple[list[str], list[tuple[str, object]]]:
    """The file label of each of ``y`` (any hashable values) and the classes as (file label, value), sorted by
    value where the values sort: each value's text where every text is a valid, distinct label, else
    ``class0``, ``class1``, ... ."""
    y = _numpy(y)
    if isinstance(y, np.ndarray) and y.ndim != 1:
        raise UserError(f"expected one label per example (a 1D y); received shape {y.shape}")
    values = [v.item() if isinstance(v, np.generic) else v for v in y]
    unhashable = next((v for v in values if not _hashable(v)), None)
    if unhashable is not None:
        raise UserError(f"expected hashable labels (strings, numbers, tuples); received {type(unhashable).__name__}")
    if any(isinstance(v, float) and math.isnan(v) for v in values):
        raise UserError("expected a label for every example; received NaN")
    try:
        classes = sorted(set(values))
    except TypeError:                                   # values that do not sort: in order of appearance
        classes = list(dict.fromkeys(values))
    texts = [str(c) for c in classes]
    if not (all(map(_valid_name, texts)) and len(set(texts)) == len(texts)):
        texts = [f"class{i}" for i in range(len(classes))]
    name = dict(zip(classes, texts))
    return [name[v] for v in values], [(t, c) for t, c in zip(texts, classes)]


def target_names(y, n: int, where: str = "y") -> list[str]:
    """Regression targets as the exact decimal text of each value (``repr`` of its float64), ``n`` of them."""
    a = _reals(y, where)
    a = a.reshape(-1) if a.ndim == 2 and a.shape[1] == 1 else a
    if a.ndim != 1 or len(a) != n:
        raise UserError(f"expected {n} targets (one per example) in {where}; received shape {a.shape}")
    if not np.isfinite(a).all():
        raise UserError(f"expected finite targets in {where}; received NaN or an infinity")
    return [repr(float(v)) for v in a]


def write_examples(folder: Path, stem: str, kind: str, xs: list, names: list[str], *, text_column: str = "text",
                   label_column: str = "label") -> Path:
    """``xs`` with their file labels ``names`` as ``folder/stem.ts`` (series) or ``folder/stem.jsonl`` (texts)."""
    if len(xs) != len(names):
        raise UserError(f"expected one label or target per example; received {len(xs)} examples and "
                        f"{len(names)} labels")
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "series":
        return write_ts(folder / f"{stem}.ts", xs, names, name=stem)
    lines = "".join(json.dumps({text_column: t, label_column: l}) + "\n" for t, l in zip(xs, names))
    atomic_write_bytes(folder / f"{stem}.jsonl", lines.encode())
    return folder / f"{stem}.jsonl"


def write_columns(path: Path, columns) -> Path:
    """A CSV with a header of numeric columns: a dict of name -> values, a pandas DataFrame, a 1D array (one
    column ``value``) or a 2D array (N, K) (columns ``x0`` ... ``x{K-1}``); values written exactly."""
    if hasattr(columns, "to_dict") and hasattr(columns, "columns"):
        columns = {str(c): columns[c].to_numpy() for c in columns.columns}
    if not isinstance(columns, dict):
        a = _reals(columns, "the series")
        if a.ndim not in (1, 2):
            raise UserError("expected a series as a 1D array, a 2D array (N, K), a dict of columns or a DataFrame")
        columns = {"value": a} if a.ndim == 1 else {f"x{k}": a[:, k] for k in range(a.shape[1])}
    names = [str(k) for k in columns]
    bad = next((n for n in names if not n or any(c in n for c in ',"\n\r')), None)
    if bad is not None:
        raise UserError(f"expected column names without commas, quotes or line breaks; received {bad!r}")
    values = [_reals(v, f"column {k}").reshape(-1) for k, v in columns.items()]
    if len({len(v) for v in values}) != 1:
        raise UserError(f"expected columns of one length; received lengths {[len(v) for v in values]}")
    if not all(np.isfinite(v).all() for v in values):
        raise UserError("expected finite numbers in every column; received NaN or an infinity")
    buf = io.StringIO()
    buf.write(",".join(names) + "\n")
    for row in zip(*values):
        buf.write(",".join(repr(float(v)) for v in row) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue().encode())
    return path


def write_pairs(path: Path, pairs) -> Path:
    """(source, target) strings as ``source<TAB>target`` lines."""
    pairs = list(pairs)
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
            raise UserError(f"expected (source, target) pairs of strings; item {i} is {pair!r:.60}")
        if any(c in s for s in pair for c in "\t\n\r"):
            raise UserError(f"expected pairs without tabs or line breaks; item {i} has one")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, "".join(f"{s}\t{t}\n" for s, t in pairs).encode())
    return path
