"""The UCR/UEA ``.ts`` time-series format: univariate and multivariate, equal or unequal lengths.

A header of ``@key value`` lines (``@problemName``, ``@univariate``, ``@dimensions``,
``@equalLength``, ``@classLabel true <labels...>``) ends with ``@data``; then one case per line,
dimensions separated by ``:``, values by ``,``, the class label last.

>>> series, labels, header = parse_ts('''@problemName Toy
... @univariate false
... @dimensions 2
... @equalLength false
... @classLabel true a b
... @data
... 1,2,3:4,5,6:a
... 7,8:9,10:b''')
>>> [tuple(s.shape) for s in series], labels
([(3, 2), (2, 2)], ['a', 'b'])
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ..errors import UserError
from .text import check_file


def clean_line(raw: str) -> str:
    """A line without surrounding whitespace or UTF-8 byte-order marks: files joined from several UTF-8
    files carry a mark at the start of a line, not only at the start of the file."""
    return raw.strip().strip("\ufeff").strip()


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _bool(value: str, key: str, where: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise UserError(f"expected @{key} true|false in {where}; received {value!r}")
    return value.lower() == "true"


def parse_ts(text: str, where: str = "the .ts data") -> tuple[list[Tensor], list[str], dict]:
    """(series as (T, D) float tensors, labels, header) from the text of a ``.ts`` file."""
    header: dict = {}
    lines = text.splitlines()
    k = 0
    for k, raw in enumerate(lines):
        line = clean_line(raw)
        if not line or line.startswith("#"):
            continue
        if not line.startswith("@"):
            raise UserError(f"expected a header line starting with '@' before @data in {where}; line {k + 1} "
                            f"reads {line[:40]!r}")
        key, value = (line[1:].split(None, 1) + ["", ""])[:2]         # a tab may separate key and value
        key = key.lower()
        if key == "data":
            break
        header[key] = value.strip()
    else:
        raise UserError(f"expected an @data line ending the header of {where}; found none")
    if "classlabel" not in header:
        raise UserError(f"expected @classLabel in the header of {where}; found keys {sorted(header)}")
    if not header["classlabel"].split():
        raise UserError(f"expected @classLabel true|false followed by the labels in {where}; received nothing")
    has_labels, *declared = header["classlabel"].split()
    if not _bool(has_labels, "classLabel", where):
        raise UserError(f"expected a classification .ts file (@classLabel true ...) in {where}")
    if "timestamps" in header and _bool(header["timestamps"], "timeStamps", where):
        raise UserError(f"expected @timeStamps false in {where}; time-stamped .ts files are not supported")
    dims = int(header["dimensions"]) if header.get("dimensions", "").isdigit() else None
    series, labels = [], []
    for n, raw in enumerate(lines[k + 1:], k + 2):
        line = clean_line(raw)
        if not line or line.startswith("#"):
            continue
        *parts, label = line.split(":")
        label = label.strip()
        if not parts or not label:
            raise UserError(f"expected dimensions and a label separated by ':' on line {n} of {where}; received "
                            f"{line[:40]!r}")
        if dims is not None and len(parts) != dims:
            raise UserError(f"expected {dims} dimensions and a label on line {n} of {where}; received {len(parts)}")
        if declared and label not in declared:
            raise UserError(f"expected a label from @classLabel {declared} on line {n} of {where}; received {label!r}")
        try:
            columns = [[float("nan") if v == "?" else float(v) for v in p.split(",")] for p in parts]
        except ValueError:
            bad = next(v for p in parts for v in p.split(",") if v != "?" and not _is_float(v))
            raise UserError(f"expected comma-separated numbers on line {n} of {where}; received {bad[:40]!r}") from None
        length = max(len(c) for c in columns)
        if any(len(c) != length for c in columns):
            raise UserError(f"expected every dimension of a case to have the same length on line {n} of {where}")
        series.append(torch.tensor(columns, dtype=torch.float32).T.contiguous())   # (T, D)
        labels.append(label)
    if not series:
        raise UserError(f"expected at least one case after @data in {where}; found none")
    return series, labels, header


def read_ts(path: str | Path) -> tuple[list[Tensor], list[str], dict]:
    path = check_file(path, "a .ts file")
    if path.is_dir():
        raise UserError(f"expected a .ts file; {path} is a folder")
    return parse_ts(path.read_text(encoding="utf-8-sig", errors="replace"), str(path))
