"""The vanishing-gradient diagnostic: ||dL_T/ds_{T-k}|| equals autograd's gradient for the initial
state, is flat for a unitary step and shrinks for a contracting one; `rnnkit diagnose` writes its
figure from a run folder and refuses other tasks with one line."""
import json

import pytest
import torch

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.tools.diagnostics import state_gradient_norms, stepping_cell


def test_the_far_end_equals_autograds_gradient_of_the_initial_state():
    torch.manual_seed(0)
    cell = rk.LSTMCell(3, 5).double()
    x = torch.randn(4, 9, 3, dtype=torch.float64)
    s0 = rk.LSTMState(torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64))
    w = torch.randn(5, dtype=torch.float64)
    norms = state_gradient_norms(cell, x, lambda y: (y @ w).sum(), initial_state=s0)
    h0, c0 = (t.clone().requires_grad_() for t in s0)
    y, _ = rk.unroll(cell, x, initial_state=rk.LSTMState(h0, c0))
    gh, gc = torch.autograd.grad((y[:, -1] @ w).sum(), [h0, c0])
    expected = torch.cat([gh, gc], dim=1).norm(dim=1).mean()
    assert norms.shape == (10,)
    torch.testing.assert_close(norms[-1], expected)


def test_unitary_step_keeps_the_gradient_and_a_contracting_one_loses_it():
    torch.manual_seed(1)
    eunn = rk.EUNNCell(2, 8, capacity=4)
    with torch.no_grad():
        eunn.bias.zero_()                                   # modReLU is then the identity but at |z| ~ 0
        for p in [*eunn.theta, *eunn.phi]:
            p.uniform_(-3, 3)
    x = torch.zeros(3, 200, 2)
    s0 = torch.randn(3, 16)
    flat = state_gradient_norms(eunn, x, lambda y: y.sum(), initial_state=s0)
    torch.testing.assert_close(flat, flat[0].expand_as(flat), rtol=1e-3, atol=0)
    elman = rk.ElmanCell(2, 8)
    with torch.no_grad():
        elman.weight_hh.mul_(0.5)
    falling = state_gradient_norms(elman, x, lambda y: y.sum(), initial_state=torch.randn(3, 8))
    assert falling[50] < 1e-6 * falling[0]


def test_stepping_cell_of_a_stack_of_layers():
    from rnnkit.models import RecurrentConfig, build_runner
    runner = build_runner(RecurrentConfig(cell="gru", hidden_size=4, num_layers=2), 3)
    cell = stepping_cell(runner)
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(rk.unroll(cell, x)[0], runner(x)[0])


def test_cli_diagnose_writes_the_figure_and_refuses_other_tasks(tmp_path, capsys):
    run = tmp_path / "copy"
    assert main(["train", "memory", "--cell", "gru", "--hidden-size", "8", "--lag", "12", "--max-steps", "3",
                 "--run", str(run)]) == 0
    out = tmp_path / "curve.png"
    assert main(["diagnose", str(run), "--out", str(out), "--sequences", "8"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figures = json.loads(out.with_suffix(".json").read_text())
    assert len(figures["trained"]) == len(figures["initialisation"]) == 12 + 20 + 1
    assert all(v > 0 for v in figures["trained"])
    capsys.readouterr()
    (tmp_path / "text.txt").write_text("abcabcabc " * 2000)
    assert main(["train", "charlm", "--data", str(tmp_path / "text.txt"), "--hidden-size", "8", "--max-steps", "2",
                 "--run", str(tmp_path / "lm")]) == 0
    capsys.readouterr()
    assert main(["diagnose", str(tmp_path / "lm"), "--out", str(tmp_path / "lm.png"), "--sequences", "4"]) == 0
    lm = json.loads((tmp_path / "lm.json").read_text())                   # seq_len 100 steps: k = 0 .. 100
    assert len(lm["trained"]) == 101 and lm["title"] == "lstm on charlm" and all(v > 0 for v in lm["initialisation"])
    capsys.readouterr()
    assert main(["train", "seq2seq", "--hidden-size", "8", "--max-steps", "2", "--run", str(tmp_path / "s")]) == 0
    capsys.readouterr()
    assert main(["diagnose", str(tmp_path / "s"), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "expected a run of a task with gradient curves (charlm, classify, regress" in err[0]


def test_diagnose_any_left_to_right_classifier_and_refuse_a_bidirectional_one(tmp_path, capsys):
    """Classification: the far past of a series felt by the last step's prediction; a bidirectional model (the
    text recipe's) is refused in one line, since its last output has read the whole sequence."""
    from datasets import sentiment_csv, ts_file
    run = tmp_path / "series"
    assert main(["train", "classify", "--data", str(ts_file(tmp_path / "s.ts")), "--model", "rnn", "--cell", "elman",
                 "--hidden-size", "8", "--max-steps", "3", "--run", str(run)]) == 0
    assert main(["diagnose", str(run), "--out", str(tmp_path / "series.png"), "--sequences", "4"]) == 0
    curves = json.loads((tmp_path / "series.json").read_text())
    assert curves["title"] == "elman on classify" and curves["initialisation"][0] > curves["initialisation"][-1] > 0
    capsys.readouterr()
    text = tmp_path / "text"
    assert main(["train", "classify", "--data", str(sentiment_csv(tmp_path / "t.csv")), "--hidden-size", "8",
                 "--max-steps", "2", "--run", str(text)]) == 0
    capsys.readouterr()
    assert main(["diagnose", str(text), "--out", str(tmp_path / "t.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reads left to right" in err[0] and "bidirectional" in err[0]


def test_exploding_gradient_grows_as_the_recurrent_norm_to_the_k_and_clipping_keeps_training_finite(tmp_path, capsys):
    """The RNN 1 notes' 1.1^n: a linear Elman network whose recurrent matrix is orthogonal times 1.1 feels its
    state k steps back 1.1^k times more at initialisation; without clipping SGD diverges at once (one line,
    exit 2), with the gradient norm clipped at 1 it trains."""
    flags = ["train", "memory", "--problem", "adding", "--lag", "30", "--cell", "elman", "--activation", "identity",
             "--init", "orthogonal", "--recurrent-norm", "1.1", "--hidden-size", "16", "--optimizer", "sgd",
             "--lr", "0.01", "--max-steps", "20", "--eval-every", "10"]
    assert main([*flags, "--clip-norm", "0", "--run", str(tmp_path / "free")]) == 2
    assert "training diverged" in capsys.readouterr().err
    assert main([*flags, "--clip-norm", "1", "--run", str(tmp_path / "clipped")]) == 0
    assert main(["diagnose", str(tmp_path / "clipped"), "--out", str(tmp_path / "g.png"), "--sequences", "4"]) == 0
    init = torch.tensor(json.loads((tmp_path / "g.json").read_text())["initialisation"])
    torch.testing.assert_close(init[1:] / init[:-1], torch.full((len(init) - 1,), 1.1), rtol=1e-3, atol=0)


def test_lstm_runs_also_get_the_memory_cell_path_with_and_without_a_forget_gate(tmp_path, capsys):
    """The RNN 1 notes: along the memory cell dc_t/dc_(t-1) = f_t; without a forget gate it is 1, so the far past
    stays felt where a forget gate (closed by half at initialisation) lets it fade."""
    far = {}
    for gate in ("--forget-gate", "--no-forget-gate"):
        run = tmp_path / gate
        assert main(["train", "memory", "--lag", "30", "--hidden-size", "8", "--max-steps", "2", gate,
                     "--run", str(run)]) == 0
        assert main(["diagnose", str(run), "--out", str(tmp_path / f"{gate}.png"), "--sequences", "4"]) == 0
        curves = json.loads((tmp_path / f"{gate}.json").read_text())
        path = curves["initialisation: memory cell, ||dc_T/dc_(T-k)||"]
        assert len(path) == len(curves["initialisation"]) == 30 + 20 + 1
        assert path[0] == pytest.approx(8 ** 0.5, rel=1e-5)                # d(sum c_T)/dc_T: a vector of ones
        far[gate] = path[-1]
    assert far["--no-forget-gate"] > 1.0 > 1e-2 > far["--forget-gate"]         # 3.4 and 4e-4 here
    assert "memory cell" in capsys.readouterr().out
