"""`rnnkit inspect`: the text's features are exact on a hand-made string, a unit that is the bracket depth is
found with r = 1, the recorded activations are the model's own (the state carried across chunks), the command
writes its page and picture, and every bad input is one line with exit status 2."""
import random

import pytest
import torch

from datasets import sentiment_csv, text_file
from rnnkit.cli import main
from rnnkit.models import LanguageModel, RecurrentConfig
from rnnkit.tools.units import FEATURES, activations, feature_matrix, pearson, text_features, top_units, write_png


def code_file(path, n=60):
    """Python-like text: quoted strings (one of them holding brackets), nested brackets, indented blocks."""
    rng = random.Random(0)
    parts = []
    for k in range(n):
        name = rng.choice(["load", "save", "step", "read"])
        parts.append(f'def {name}_{k}(x, y=[1, 2]):\n    """Return {name}."""\n    if x:\n'
                     f'        return {{"a": (x + y[0]), \'b\': "(s"}}\n    return f(g(x), h[y])\n\n')
    path.write_text("".join(parts), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A charlm run trained for a few steps on the Python-like text, and that text."""
    root = tmp_path_factory.mktemp("inspect")
    code = code_file(root / "code.py")
    assert main(["train", "charlm", "--data", str(code), "--run", str(root / "lm"), "--max-steps", "5",
                 "--hidden-size", "16", "--batch-size", "4", "--seq-len", "20", "--no-tensorboard"]) == 0
    return root / "lm", code


def test_features_of_a_hand_made_string():
    text = 'a = f("x(", [1])\n    if b\'c\':  # don\'t\n  """q\n(r"""\n'
    f = text_features(text)
    assert all(len(f[name]) == len(text) for name in FEATURES)
    lines = text.split("\n")
    by_line = lambda values: [values[sum(len(x) + 1 for x in lines[:i]):][:len(lines[i]) + 1] for i in range(4)]
    # line 0: a = f("x(", [1])  -- the "(" inside the string does not count; the opening quote is inside
    assert by_line(f["quote"])[0] == [0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert by_line(f["depth"])[0] == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 1, 0, 0]
    # line 1:     if b'c':  # don't  -- a quoted b'c' (a string prefix), and an apostrophe between two letters
    assert by_line(f["quote"])[1] == [0] * 8 + [1, 1] + [0] * 12
    # lines 2-3: a triple-quoted string over the newline; the bracket inside it does not count
    assert by_line(f["quote"])[2] == [0, 0, 1, 1, 1, 1, 1]
    assert by_line(f["quote"])[3] == [1, 1, 0, 0, 0, 0]
    assert by_line(f["depth"])[2] + by_line(f["depth"])[3] == [0] * 13
    assert [row[0] for row in by_line(f["indent"])] == [0, 4, 2, 0]
    assert set(by_line(f["indent"])[1]) == {4}
    assert by_line(f["column"])[1] == list(range(len(lines[1]) + 1))
    assert [i for i, v in enumerate(f["eol_next"]) if v] == [i - 1 for i, ch in enumerate(text) if ch == "\n"]


def test_a_unit_equal_to_the_bracket_depth_ranks_first_with_r_one(tmp_path):
    text = code_file(tmp_path / "code.py").read_text()
    f = feature_matrix(text_features(text))                                    # (N, F)
    depth = f[:, FEATURES.index("depth")]
    assert depth.max() >= 2
    torch.manual_seed(0)
    a = torch.randn(len(text), 12)
    a[:, 7] = 0.3 * depth - 1.0                                                 # an affine copy of the depth
    a[:, 3] = depth + 3 * torch.randn(len(text))                                # a noisy one: second at most
    a[:, 5] = -2.0                                                              # constant: r taken as 0
    r = pearson(a, f)                                                           # (H, F)
    table = top_units(r)
    unit, value = table["depth"][0]
    assert unit == 7 and value == pytest.approx(1.0, abs=1e-9)
    assert table["depth"][1][0] == 3 and 0.1 < table["depth"][1][1] < 0.9
    assert torch.all(r[5] == 0)
    # the same numbers as a textbook Pearson r, for another feature
    col = FEATURES.index("column")
    expected = torch.corrcoef(torch.stack([a[:, 3].double(), f[:, col]]))[0, 1]
    assert float(r[3, col]) == pytest.approx(float(expected), abs=1e-9)


def test_recorded_activations_are_the_whole_text_read_at_once(run):
    from rnnkit.runs import open_run
    run_dir, code = run
    task, model = open_run(run_dir, expect="charlm")
    ids = task.vocab.encode(code.read_text()[:300])
    with torch.no_grad():
        whole, _ = model.runner(model.features(torch.tensor([ids])))            # (1, N, H)
    recorded = activations(model, ids, chunk=7)                                 # 43 chunks, the state carried
    assert recorded.shape == (300, 16)
    torch.testing.assert_close(recorded, whole[0], atol=1e-5, rtol=0)


def test_recorded_memory_cells_of_a_two_layer_lstm():
    torch.manual_seed(0)
    model = LanguageModel(RecurrentConfig(cell="lstm", hidden_size=6, num_layers=2), vocab_size=9).eval()
    ids = torch.randint(0, 9, (50,)).tolist()
    c = activations(model, ids, state="c", chunk=16)                            # (50, 6)
    torch.testing.assert_close(activations(model, ids, chunk=16), activations(model, ids, chunk=50))
    for t in (0, 17, 49):                           # c after token t: the top layer's final c over ids[: t + 1]
        with torch.no_grad():
            _, state = model(torch.tensor([ids[: t + 1]]))
        torch.testing.assert_close(c[t], state[-1].c[0], atol=1e-5, rtol=0)


def test_cli_inspect_writes_the_page_and_the_picture(run, tmp_path, capsys):
    run_dir, code = run
    capsys.readouterr()
    assert main(["inspect", str(run_dir), "--text", str(code)]) == 0
    out = capsys.readouterr().out.splitlines()
    page, picture = run_dir / "inspect.html", run_dir / "inspect.png"
    assert out[-1] == f"wrote {page} and {picture}"
    rows = {line.split()[0]: line.split()[1:] for line in out[1:6]}
    assert list(rows) == list(FEATURES) and all(len(units) == 3 and ":" in units[0] for units in rows.values())
    assert page.read_text(encoding="utf-8").count("<span") == 5000
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size < 200_000
    assert main(["inspect", str(run_dir), "--text", str(code), "--chars", "400", "--unit", "3", "--state", "c",
                 "--out", str(tmp_path)]) == 0
    assert "colouring unit 3" in capsys.readouterr().out
    assert (tmp_path / "inspect.html").read_text(encoding="utf-8").count("<span") == 400
    assert (tmp_path / "inspect.png").stat().st_size > 0


def test_each_bad_input_is_one_line(run, tmp_path, capsys):
    run_dir, code = run
    assert main(["train", "classify", "--data", str(sentiment_csv(tmp_path / "s.csv")), "--run",
                 str(tmp_path / "cls"), "--max-steps", "2", "--hidden-size", "8", "--no-tensorboard"]) == 0
    assert main(["train", "charlm", "--data", str(code), "--run", str(tmp_path / "gru"), "--cell", "gru",
                 "--max-steps", "1", "--hidden-size", "8", "--seq-len", "20", "--batch-size", "4",
                 "--no-tensorboard"]) == 0
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 (x)".encode("latin-1"))
    (tmp_path / "unknown.txt").write_text("def f(x): return x ~ 1\n")
    (tmp_path / "one.txt").write_text("x")
    cases = [
        ("expected a run folder of task charlm", [str(tmp_path / "cls"), "--text", str(code)]),
        ("does not exist", [str(tmp_path / "nowhere"), "--text", str(code)]),
        ("expected a text file at", [str(run_dir), "--text", str(tmp_path / "missing.txt")]),
        ("it is empty", [str(run_dir), "--text", str(tmp_path / "empty.txt")]),
        ("non-UTF-8 byte", [str(run_dir), "--text", str(tmp_path / "latin1.txt")]),
        ("outside it: '~'", [str(run_dir), "--text", str(tmp_path / "unknown.txt")]),
        ("expected at least 2", [str(run_dir), "--text", str(tmp_path / "one.txt")]),
        ("expected --unit in 0 .. 15", [str(run_dir), "--text", str(code), "--unit", "16"]),
        ("expected --unit in 0 .. 15", [str(run_dir), "--text", str(code), "--unit", "-1"]),
        ("expected --chars of at least 1", [str(run_dir), "--text", str(code), "--chars", "0"]),
        ("expected an LSTM run for --state c", [str(tmp_path / "gru"), "--text", str(code), "--state", "c"]),
        ("expected --out an existing folder", [str(run_dir), "--text", str(code), "--out", str(tmp_path / "no")]),
    ]
    capsys.readouterr()
    for expected, args in cases:
        assert main(["inspect", *args]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("rnnkit: error: ") and expected in err[0], (args, err)
    assert not (tmp_path / "no").exists()


def test_features_a_text_lacks_are_reported_constant(tmp_path, capsys):
    """Prose on one line has no quotes, brackets, indentation or line ends: those features are constant, and the
    table says so rather than ranking units by r = 0."""
    words = text_file(tmp_path / "words.txt")
    assert main(["train", "charlm", "--data", str(words), "--run", str(tmp_path / "lm"), "--max-steps", "2",
                 "--hidden-size", "8", "--batch-size", "4", "--seq-len", "20", "--no-tensorboard"]) == 0
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "lm"), "--text", str(words), "--chars", "500"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in out[1:6]}
    assert all(rows[name].endswith("constant over this text") for name in ("quote", "depth", "indent", "eol_next"))
    best = rows["column"].split()[1].split(":")                                 # the column's first unit:r
    assert out[6] == f"colouring unit {best[0]} (largest |r|: {best[1]} with column)"


def test_a_dense_picture_is_drawn_smaller_to_keep_the_file_small(tmp_path):
    rng = random.Random(0)
    text = "\n".join("".join(rng.choice("abcxyz()[]{}=+-*/.,;:") for _ in range(60)) for _ in range(10))
    values = torch.randn(len(text), generator=torch.Generator().manual_seed(0))
    write_png(tmp_path / "full.png", list(text), values, title="dense", max_bytes=10 ** 9)
    write_png(tmp_path / "small.png", list(text), values, title="dense", max_bytes=40_000)
    assert (tmp_path / "small.png").stat().st_size <= 40_000 < (tmp_path / "full.png").stat().st_size
