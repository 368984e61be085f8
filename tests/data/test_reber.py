"""rnnkit.data.reber: the Theano notebook's Reber grammar: generation, membership, next-symbol targets."""
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
