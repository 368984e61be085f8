"""DESIGN.md's invariants for every cell and wrapper: a sequence's outputs and final state do not depend
on the padding after it nor on the other sequences of its batch, and running it in chunks with the
state carried equals running it whole. Property-based with hypothesis."""
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnkit as rk
from cases import ALL, build, inputs
from rnnkit.state import leaves, select_batch

CELLS = {name: build(name) for name in sorted(ALL)}
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _assert_same_state(a, b):
    for p, q in zip(leaves(a), leaves(b), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(ALL))
@SETTINGS
@given(data=st.data())
def test_padding_and_batch_do_not_matter(name, data):
    cell = CELLS[name]
    B = data.draw(st.integers(1, 4), label="B")
    T = data.draw(st.integers(0, 6), label="T")
    lengths = torch.tensor(data.draw(st.lists(st.integers(0, T), min_size=B, max_size=B), label="lengths"))
    extra = data.draw(st.integers(1, 4), label="extra padding")
    reverse = data.draw(st.booleans(), label="reverse")
    x = inputs(cell, B, T + extra, generator_seed=data.draw(st.integers(0, 100)))
    s0 = cell.initial_state(B)
    # garbage in the padding must not leak into any sequence
    y_pad, s_pad = rk.unroll(cell, x, lengths=lengths, initial_state=s0, reverse=reverse)
    y, s = rk.unroll(cell, x[:, :T], lengths=lengths, initial_state=s0, reverse=reverse)
    torch.testing.assert_close(y_pad[:, :T], y, rtol=1e-12, atol=1e-12)
    assert (y_pad[:, T:] == 0).all()
    _assert_same_state(s_pad, s)
    # each sequence alone, cut to its own length, gives the same result as in the batch
    for b in range(B):
        n = int(lengths[b])
        y_b, s_b = rk.unroll(cell, x[b:b + 1, :n], initial_state=select_batch(s0, slice(b, b + 1)), reverse=reverse)
        torch.testing.assert_close(y[b:b + 1, :n], y_b, rtol=1e-12, atol=1e-12)
        assert (y[b, n:] == 0).all()
        _assert_same_state(select_batch(s, slice(b, b + 1)), s_b)


@pytest.mark.parametrize("name", sorted(ALL))
@SETTINGS
@given(data=st.data())
def test_chunks_with_state_carried_equal_whole(name, data):
    cell = CELLS[name]
    B, T = 3, data.draw(st.integers(1, 9), label="T")
    lengths = torch.tensor(data.draw(st.lists(st.integers(0, T), min_size=B, max_size=B), label="lengths"))
    cuts = sorted(set(data.draw(st.lists(st.integers(1, T), max_size=3), label="cuts")) | {0, T})
    x = inputs(cell, B, T)
    s = s0 = cell.initial_state(B)
    y_whole, s_whole = rk.unroll(cell, x, lengths=lengths, initial_state=s0)
    pieces = []
    for a, b in zip(cuts, cuts[1:]):
        chunk_lengths = (lengths - a).clamp(0, b - a)
        y, s = rk.unroll(cell, x[:, a:b], lengths=chunk_lengths, initial_state=s)
        pieces.append(y)
    torch.testing.assert_close(torch.cat(pieces, 1), y_whole, rtol=1e-12, atol=1e-12)
    _assert_same_state(s, s_whole)


def test_lengths_on_another_device_type_and_as_list():
    cell = CELLS["lstm"]
    x = inputs(cell, 2, 5)
    y1, _ = rk.unroll(cell, x, lengths=[5, 2])
    y2, _ = rk.unroll(cell, x, lengths=torch.tensor([5, 2], dtype=torch.int32))
    torch.testing.assert_close(y1, y2)


def test_length_zero_keeps_the_initial_state():
    cell = CELLS["gru"]
    s0 = torch.randn(2, 4, dtype=torch.float64)
    y, s = rk.unroll(cell, inputs(cell, 2, 3), lengths=[0, 0], initial_state=s0)
    assert torch.equal(s, s0) and (y == 0).all()
    y, s = rk.unroll(cell, inputs(cell, 2, 0), initial_state=s0)
    assert y.shape == (2, 0, 4) and torch.equal(s, s0)


def test_variational_dropout_uses_one_mask_per_sequence_and_none_in_eval():
    torch.manual_seed(0)
    cell = rk.Dropout(rk.ElmanCell(3, 400, bias=False), input_p=0.5, variational=True)
    with torch.no_grad():
        cell.cell.weight_hh.zero_()
        cell.cell.weight_ih.copy_(torch.eye(3, 400))
    x = torch.ones(2, 5, 3)
    y, s = rk.unroll(cell, x)
    dropped = (y[..., :3] == 0)
    assert dropped.any() and not dropped.all()
    assert (dropped == dropped[:, :1]).all(), "a variational mask must be the same at every step"
    y_eval, _ = rk.unroll(cell.eval(), x)
    torch.testing.assert_close(y_eval[..., :3], torch.tanh(torch.ones(2, 5, 3)))


def test_per_step_dropout_changes_masks_between_steps():
    torch.manual_seed(0)
    cell = rk.Dropout(rk.ElmanCell(3, 50), output_p=0.5)
    y, _ = rk.unroll(cell, torch.ones(1, 6, 3))
    zeros = (y == 0)
    assert not (zeros == zeros[:, :1]).all()


def test_zoneout_training_keeps_previous_values_and_eval_averages():
    torch.manual_seed(0)
    base = rk.GRUCell(3, 200)
    cell = rk.Zoneout(base, p=0.5)
    h0 = torch.randn(1, 200)
    x = torch.randn(1, 3)
    y, h1 = cell(x, h0)
    _, fresh = base(x, h0)
    kept, new = (h1 == h0), (h1 == fresh)
    assert (kept | new).all() and kept.any() and new.any()
    assert torch.equal(y, h1)
    y_eval, h_eval = cell.eval()(x, h0)
    torch.testing.assert_close(h_eval, 0.5 * h0 + 0.5 * fresh)


def test_learned_initial_state_learns():
    cell = rk.LearnedInitialState(rk.LSTMCell(2, 3))
    y, _ = rk.unroll(cell, torch.randn(4, 5, 2))
    y.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in cell.initial_values)
