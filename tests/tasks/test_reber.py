"""rnnkit.tasks.reber: generate and predict from a Reber run."""
from rnnkit.data import ReberGrammar


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
