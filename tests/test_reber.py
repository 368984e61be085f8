"""The Theano notebook's Reber grammar: generation, membership, next-symbol targets; and the demo learns it."""
import torch

from rnnkit.data import ReberGrammar


def test_samples_are_in_grammar_and_embedded_symbols_match():
    for embedded in (False, True):
        g = ReberGrammar(embedded=embedded, seed=1)
        for _ in range(200):
            s = g.sample()
            assert g.in_grammar(s)
            if embedded:
                assert s[1] == s[-2] and not g.in_grammar(s[:-2] + ("P" if s[1] == "T" else "T") + "E")


def test_membership_rejects_broken_strings():
    g = ReberGrammar()
    for bad in ["", "B", "BTSSXXTVV", "BTSSXXTVVEE", "TSSXXTVVE", "BTSSXXTVPE"]:
        assert not g.in_grammar(bad), bad


def test_next_symbol_targets_are_the_allowed_sets():
    g = ReberGrammar(embedded=True)
    x, y = g.example("BTBTXSETE")
    assert x.shape == y.shape == (8, 7)
    sets = ["".join(c for c, v in zip("BTSXPVE", row) if v) for row in y]
    assert sets == ["TP", "B", "TP", "SX", "SX", "E", "T", "E"]
    assert torch.equal(x.argmax(1), torch.tensor(["BTSXPVE".index(c) for c in "BTBTXSET"]))


def test_generate_prints_sampled_strings_with_their_verdicts_and_predict_the_allowed_sets(tmp_path, capsys):
    from rnnkit.cli import main
    run = tmp_path / "r"
    assert main(["train", "reber", "--no-embedded", "--run", str(run), "--max-steps", "30", "--eval-every", "30",
                 "--hidden-size", "8", "--samples", "5"]) == 0
    capsys.readouterr()
    assert main(["generate", str(run), "--count", "6", "--seed", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    g = ReberGrammar()
    assert len(lines) == 7
    verdicts = []
    for line in lines[:-1]:
        string, verdict = line.split("\t")
        assert string.startswith("B") and verdict == ("in grammar" if g.in_grammar(string) else "NOT in grammar")
        verdicts.append(g.in_grammar(string))
    assert lines[-1].startswith(f"in grammar: {sum(verdicts)} of 6")
    assert main(["generate", str(run), "--count", "6", "--seed", "3"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == lines                  # the same seed, the same strings
    assert main(["generate", str(run), "--count", "0"]) == 2
    string = g.sample()
    assert main(["predict", str(run), string]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    allowed = g.allowed_next(string)
    for t, row in enumerate(rows[:-1]):
        cells = row.split("\t")
        chosen = cells[1].removeprefix("-> ").replace("-", "")
        assert cells[3] == f"allowed {allowed[t] or '-'}"
        assert cells[4] == ("right" if set(chosen) == set(allowed[t]) else "WRONG")
    assert rows[-1] == "in grammar: True"
