"""DESIGN.md's invariants for every cell and wrapper: a sequence's outputs and final state do not depend
on the padding after it nor on the other sequences of its batch, and running it in chunks with the
state carried equals running it whole. Property-based with hypothesis."""
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

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
