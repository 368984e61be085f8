"""Streaming: any chunking of a batch of sequences of mixed lengths, the state carried, gives exactly the
outputs and final state of one run over the whole sequences, for every cell and wrapper and for the
task models (hypothesis draws the chunkings)."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnkit as rk
from cases import ALL, build, inputs
from rnnkit.export import Stream
from rnnkit.models import LanguageModel, RecurrentConfig, SequenceModel
from rnnkit.state import leaves

T = 12
LENGTHS = torch.tensor([12, 7, 0])


def _chunks(cuts):
    points = [0] + sorted({c for c in cuts if 0 < c < T}) + [T]
    return list(zip(points[:-1], points[1:]))


def _feed_all(stream, x, chunks):
    outs = []
    for a, b in chunks:
        outs.append(stream.feed(x[:, a:b], (LENGTHS - a).clamp(0, b - a)))
    return torch.cat(outs, dim=1)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(name=st.sampled_from(sorted(ALL)), cuts=st.lists(st.integers(0, T), max_size=6))
def test_any_chunking_of_any_cell_equals_the_whole_run(name, cuts):
    cell = build(name).eval()
    x = inputs(cell, 3, T)
    full, final = rk.unroll(cell, x, lengths=LENGTHS)
    stream = Stream(cell, batch_size=3)
    got = _feed_all(stream, x, _chunks(cuts))
    torch.testing.assert_close(got, full, rtol=1e-10, atol=1e-12)
    for a, b in zip(leaves(stream.state), leaves(final), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(cuts=st.lists(st.integers(0, T), max_size=6), cell=st.sampled_from(["lstm", "gru", "mingru", "eunn"]))
def test_task_models_stream_their_heads(cuts, cell):
    torch.manual_seed(0)
    cfg = RecurrentConfig(cell=cell, hidden_size=6, num_layers=2)
    lm = LanguageModel(cfg, vocab_size=9).double().eval()
    ids = torch.randint(0, 9, (3, T))
    logits, _ = lm(ids, LENGTHS)
    got = _feed_all(Stream(lm, batch_size=3), ids, _chunks(cuts))
    live = (torch.arange(T) < LENGTHS[:, None]).unsqueeze(-1)
    torch.testing.assert_close(got, logits * live, rtol=1e-10, atol=1e-12)

    clf = SequenceModel(cfg, input_size=2, output_size=4, readout="last").double().eval()
    x = torch.randn(3, T, 2, dtype=torch.float64)
    want, _ = clf(x, LENGTHS)
    steps = _feed_all(Stream(clf, batch_size=3), x, _chunks(cuts))
    for b, n in enumerate(LENGTHS.tolist()):
        if n:                                                   # the prediction after the sequence's last step
            torch.testing.assert_close(steps[b, n - 1], want[b], rtol=1e-10, atol=1e-12)


def test_stream_refuses_what_cannot_stream():
    with pytest.raises(ValueError, match="left-to-right"):
        Stream(rk.Bidirectional(rk.GRUCell(2, 3)))
    model = SequenceModel(RecurrentConfig(cell="gru", hidden_size=4, bidirectional=True), input_size=2, output_size=3)
    with pytest.raises(ValueError, match="left-to-right"):
        Stream(model)
    stream = Stream(rk.GRUCell(2, 3), batch_size=2)
    with pytest.raises(ValueError, match="expected chunks of 2 sequences; received 3"):
        stream.feed(torch.randn(3, 4, 2))
    stream.feed(torch.randn(2, 4, 2))
    stream.reset()
    assert stream.state is None and stream.steps == 0


def test_pooled_readouts_ignore_padding_and_refuse_to_stream():
    torch.manual_seed(0)
    for readout in ("mean", "max", "attention"):
        model = SequenceModel(RecurrentConfig(cell="gru", hidden_size=5, bidirectional=True), input_size=2,
                              output_size=3, readout=readout).double().eval()
        x = torch.randn(3, 6, 2, dtype=torch.float64)
        lengths = torch.tensor([6, 3, 0])
        want, _ = model(x, lengths)
        padded = torch.cat([x, 100 * torch.randn(3, 5, 2, dtype=torch.float64)], dim=1)   # loud padding
        got, _ = model(padded, lengths)
        torch.testing.assert_close(got, want)
        alone, _ = model(x[1:2, :3], lengths[1:2])                          # no other sequence, no padding
        torch.testing.assert_close(alone[0], want[1])
        torch.testing.assert_close(want[2], model.head.bias)               # an empty sequence pools to zeros
        if readout == "mean":
            y, _ = model.runner(x[:1], lengths[:1])
            torch.testing.assert_close(want[0], model.head(y[0].mean(0)))
        forward_only = SequenceModel(RecurrentConfig(cell="gru", hidden_size=5), input_size=2, output_size=3,
                                     readout=readout).eval()
        with pytest.raises(ValueError, match="pooled readout"):
            Stream(forward_only, batch_size=3)
