"""Reading user files: text as characters or bytes, labelled examples from CSV / TSV / JSONL / folders."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from ..errors import UserError


def check_file(path: str | Path, what: str = "a file", *, folder_ok: bool = False) -> Path:
    """``path`` if it holds what a reader expects: an existing, non-empty file (or a folder where allowed)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"expected {what} at {path}; it does not exist")
    if path.is_dir() and not folder_ok:
        raise UserError(f"expected {what} at {path}; it is a folder")
    if path.is_file() and path.stat().st_size == 0:
        raise UserError(f"expected {what} at {path}; it is empty")
    return path


def read_text(path: str | Path, level: str) -> tuple[str | bytes, str]:
    """The file as ``str`` (level ``char``) or ``bytes`` (``byte``); ``auto`` picks char when it is UTF-8."""
    path = check_file(path, "a text file")
    if path.is_dir():
        raise UserError(f"expected a text file; {path} is a folder")
    raw = path.read_bytes()
    if level == "byte":
        return raw, "byte"
    try:
        return raw.decode("utf-8-sig"), "char"                     # a byte-order mark is not text
    except UnicodeDecodeError as e:
        if level == "auto":
            return raw, "byte"
        raise UserError(f"expected UTF-8 text for a character model; {path} has a non-UTF-8 byte at offset "
                        f"{e.start} (use --level byte)") from None


def read_labelled(path: str | Path, *, text_column: str = "text", label_column: str = "label") -> list[tuple[str, str]]:
    """(text, label) pairs from a CSV / TSV (with a header), JSONL, or a folder (see :func:`_read_folder`)."""
    path = check_file(path, "labelled data (CSV, TSV, JSONL, or a folder of class subfolders or <Label>.txt files)",
                      folder_ok=True)
    if path.is_dir():
        return _read_folder(path)
    if path.suffix in (".jsonl", ".json"):
        text = path.read_text(encoding="utf-8-sig", errors="replace")      # a byte-order mark is not data
        pairs = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"expected one JSON object per line in {path}; line {n}: {e.msg}") from None
            if not isinstance(obj, dict) or text_column not in obj or label_column not in obj:
                raise UserError(f"expected keys {text_column!r} and {label_column!r} on line {n} of {path}; "
                                f"received {sorted(obj) if isinstance(obj, dict) else type(obj).__name__}")
            pairs.append((str(obj[text_column]), str(obj[label_column])))
    else:
        pairs = _read_table(path, text_column, label_column)
    if not pairs:
        raise UserError(f"expected at least one labelled example in {path}; found none")
    return pairs


LABELLED_SUFFIXES = (".csv", ".tsv", ".tab", ".jsonl", ".json")


def labelled_split(path: str | Path) -> tuple[Path, Path] | None:
    """(train, test) of a folder holding a labelled set split in two entries of one kind: folders ``train/`` and
    ``test/`` (``rnnkit data fetch names`` writes them) or files ``train.<ext>`` and ``test.<ext>`` (CSV, TSV,
    JSONL); None for any other path."""
    path = Path(path)
    if not path.is_dir():
        return None
    if (path / "train").is_dir() and (path / "test").is_dir():
        return path / "train", path / "test"
    for ext in LABELLED_SUFFIXES:
        if (path / f"train{ext}").is_file() and (path / f"test{ext}").is_file():
            return path / f"train{ext}", path / f"test{ext}"
    return None


def _read_folder(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs of a folder in one of two layouts (hidden entries are passed over):

    - one subfolder per class, each of its files one example;
    - one ``<Label>.txt`` file per class, each non-blank line one example, stripped (the PyTorch names tutorial's
      ``data/names/<Language>.txt``); files of other kinds beside them are passed over.

    A folder mixing the two, holding neither, or holding a ``train/``/``test/`` split is refused.
    """
    entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    folders = [p for p in entries if p.is_dir()]
    files = [p for p in entries if p.is_file() and p.suffix.lower() == ".txt"]
    expected = f"expected one subfolder per class or one <Label>.txt file per class in {path}"
    split = labelled_split(path)
    if split is not None:
        raise UserError(f"{expected}; it holds a train/test split: read {split[0]} (and {split[1]})")
    if folders and files:
        raise UserError(f"{expected}, not both; it holds {len(folders)} subfolder(s) ({folders[0].name}/ ...) and "
                        f"{len(files)} .txt file(s) ({files[0].name} ...)")
    if not folders and not files:
        held = ", ".join(p.name for p in entries[:3]) + (" ..." if len(entries) > 3 else "")
        raise UserError(f"{expected}; {'it is empty' if not entries else 'it holds no .txt file: ' + held}")
    pairs = []
    for f in files:
        lines = [line.strip() for line in f.read_text(encoding="utf-8-sig", errors="replace").splitlines()]
        examples = [(line, f.stem) for line in lines if line]
        if not examples:
            raise UserError(f"expected one example per line in {f}; it has none")
        pairs += examples
    for class_dir in folders:
        for f in sorted(p for p in class_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
            pairs.append((f.read_text(encoding="utf-8", errors="replace"), class_dir.name))
    if not pairs:
        raise UserError(f"expected one subfolder of text files per class in {path}; found no files")
    return pairs


def read_pairs(path: Path, first: str, second: str, *, at_least: int = 2,
               second_required: bool = False) -> list[tuple[str, str]]:
    """``first<TAB>second`` lines of a headerless TSV file (blank lines skipped), at least ``at_least`` of them;
    with ``second_required`` a blank second field is refused too."""
    lines = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or (second_required and not parts[1].split()):
            raise UserError(f"expected {first}<TAB>{second} on line {n} of {path}; received {line[:80]!r}")
        lines.append((parts[0], parts[1]))
    if len(lines) < at_least:
        raise UserError(f"expected at least {at_least} {first}/{second} line(s) in {path}; found {len(lines)}")
    return lines


def _read_table(path: Path, text_column: str, label_column: str) -> list[tuple[str, str]]:
    """(text, label) rows of a CSV (or TSV, by suffix) with a header, as real files hold them: a UTF-8
    byte-order mark, CRLF line ends, quoted fields holding commas or newlines, blank lines. A row
    without its label, or with more fields than the header, is an error naming its line."""
    delimiter = "\t" if path.suffix in (".tsv", ".tab") else ","
    pairs = []
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        try:
            columns = reader.fieldnames or []
            missing = [c for c in (text_column, label_column) if c not in columns]
            if missing:
                raise UserError(f"expected columns {text_column!r} and {label_column!r} in {path}; it has "
                                f"{columns}, missing {missing} (set --text-column / --label-column)")
            for row in reader:
                line = reader.line_num
                if None in row:
                    raise UserError(f"expected {len(columns)} fields on line {line} of {path} (quote fields that "
                                    f"hold a {'tab' if delimiter == chr(9) else 'comma'}); received "
                                    f"{len(columns) + len(row[None])}")
                label = row[label_column]
                if label is None or not label.strip():
                    raise UserError(f"expected a {label_column!r} value on line {line} of {path}; received "
                                    f"{'no such field' if label is None else 'an empty one'}")
                pairs.append((row[text_column] or "", label.strip()))
        except csv.Error as e:
            raise UserError(f"expected a well-formed {'TSV' if delimiter == chr(9) else 'CSV'} file at {path}; "
                            f"line {reader.line_num}: {e}") from None
    return pairs
