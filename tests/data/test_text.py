"""rnnkit.data.text.read_labelled on folders: the names tutorial's layout (one <Label>.txt per class, one example a
line) reads as the same pairs as the data written as a CSV; a folder in neither layout, or in both, is one line;
real CSV files read as written, and a broken one gets the line and what was expected."""
import csv

import pytest

from rnnkit.cli import main
from rnnkit.data.text import labelled_split, read_labelled
from rnnkit.errors import UserError

pytestmark = pytest.mark.slow

NAMES = {"Greek": ["Papadopoulos", "Αβραμίδης", "Nikolaou"], "Irish": ["Ó Briain", "Mac Cárthaigh"],
         "Czech": ["Novák", "Nováková"]}


def write_label_files(folder, names=NAMES):
    folder.mkdir(parents=True)
    for label, lines in names.items():
        (folder / f"{label}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def write_csv(path, pairs):
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["text", "label"], *pairs])
    return path


def test_label_files_read_as_the_same_pairs_as_a_csv(tmp_path):
    folder = write_label_files(tmp_path / "names")
    # real files: a byte-order mark, CRLF line ends, blank lines, spaces around a name, a README beside them
    (folder / "Czech.txt").write_bytes("\ufeffNovák\r\n\r\n  Nováková \r\n".encode("utf-8"))
    (folder / "README.md").write_text("not a class")
    (folder / ".hidden.txt").write_text("not a class either")
    pairs = read_labelled(folder)
    expected = [(name, label) for label in sorted(NAMES) for name in NAMES[label]]
    assert pairs == expected
    assert read_labelled(write_csv(tmp_path / "names.csv", expected)) == pairs


def test_subfolders_per_class_still_read_one_example_per_file(tmp_path):
    for label, texts in {"pos": ["good", "fine"], "neg": ["bad"]}.items():
        (tmp_path / "reviews" / label).mkdir(parents=True)
        for k, text in enumerate(texts):
            (tmp_path / "reviews" / label / f"{k}.txt").write_text(text)
    (tmp_path / "reviews" / "pos" / ".DS_Store").write_bytes(b"\0\1")
    assert read_labelled(tmp_path / "reviews") == [("bad", "neg"), ("good", "pos"), ("fine", "pos")]


@pytest.mark.parametrize("layout,message", [
    ("empty", "expected one subfolder per class or one <Label>.txt file per class in {f}; it is empty"),
    ("no_txt", "expected one subfolder per class or one <Label>.txt file per class in {f}; it holds no .txt file: "
               "a.csv, b.md"),
    ("mixed", "expected one subfolder per class or one <Label>.txt file per class in {f}, not both; it holds 1 "
              "subfolder(s) (Greek/ ...) and 1 .txt file(s) (Irish.txt ...)"),
    ("blank_file", "expected one example per line in {f}/Irish.txt; it has none"),
    ("split", "expected one subfolder per class or one <Label>.txt file per class in {f}; it holds a train/test "
              "split: read {f}/train (and {f}/test)"),
])
def test_a_folder_in_no_layout_or_in_both_is_one_error_line(tmp_path, capsys, layout, message):
    folder = tmp_path / "data"
    folder.mkdir()
    if layout == "no_txt":
        (folder / "a.csv").write_text("text,label\n")
        (folder / "b.md").write_text("#")
    elif layout == "mixed":
        (folder / "Greek").mkdir()
        (folder / "Greek" / "1.txt").write_text("Nikolaou")
        (folder / "Irish.txt").write_text("Ó Briain\n")
    elif layout == "blank_file":
        (folder / "Greek.txt").write_text("Nikolaou\n")
        (folder / "Irish.txt").write_text("\n  \n")
    elif layout == "split":
        write_label_files(folder / "train")
        write_label_files(folder / "test")
    with pytest.raises(UserError) as e:
        read_labelled(folder)
    assert str(e.value) == message.format(f=folder) and "\n" not in str(e.value)
    if layout == "split":                       # classify reads a split folder as its train and test sets
        return
    assert main(["train", "classify", "--data", str(folder), "--run", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == f"rnnkit: error: {message.format(f=folder)}"


def test_labelled_split_finds_train_and_test_folders_or_files(tmp_path):
    write_label_files(tmp_path / "names" / "train")
    write_label_files(tmp_path / "names" / "test")
    assert labelled_split(tmp_path / "names") == (tmp_path / "names" / "train", tmp_path / "names" / "test")
    (tmp_path / "tweets").mkdir()
    write_csv(tmp_path / "tweets" / "train.csv", [])
    assert labelled_split(tmp_path / "tweets") is None                          # no test.csv beside it
    write_csv(tmp_path / "tweets" / "test.csv", [])
    assert labelled_split(tmp_path / "tweets") == (tmp_path / "tweets" / "train.csv", tmp_path / "tweets" / "test.csv")
    assert labelled_split(tmp_path / "names" / "train") is None
    assert labelled_split(tmp_path / "tweets" / "test.csv") is None


# ------------------------------------------------------------------------------------------- csv files

def test_real_csv_files_read_as_written(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes('\ufefftext,label\r\n"two\r\nlines, with a comma",pos\r\nplain,neg\r\n\r\n'.encode("utf-8"))
    assert read_labelled(path) == [("two\r\nlines, with a comma", "pos"), ("plain", "neg")]
    tsv = tmp_path / "d.tsv"
    tsv.write_text("text\tlabel\na, b\tpos\nc\tneg\n")
    assert read_labelled(tsv) == [("a, b", "pos"), ("c", "neg")]


@pytest.mark.parametrize("body, expected", [
    ("text,label\nfine,pos\nno label here\n", "expected a 'label' value on line 3"),
    ("text,label\nfine,pos\nempty,\n", "expected a 'label' value on line 3"),
    ("text,label\nfine,pos\na,b,c\n", "expected 2 fields on line 3"),
    ("words,label\nfine,pos\n", "expected columns 'text' and 'label'"),
])
def test_broken_csv_gets_the_line_and_what_was_expected(tmp_path, capsys, body, expected):
    path = tmp_path / "d.csv"
    path.write_text(body)
    assert main(["train", "classify", "--data", str(path), "--run", str(tmp_path / "run"), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert not (tmp_path / "run").exists()                               # no half-written run folder
