"""rnnkit.runners: Albert's notes' modes: many-to-one, one-to-many, many-to-one-to-many; Bidirectional; Layers;
unroll's lengths."""
import torch

import rnnkit as rk
from cases import ALL, build, inputs


def test_many_to_one_is_the_output_at_each_last_step():
    torch.manual_seed(0)
    cell = rk.Projection(rk.LSTMCell(3, 5), 2)
    x, lengths = torch.randn(3, 6, 3), torch.tensor([6, 2, 4])
    y_last, state = rk.many_to_one(cell, x, lengths)
    for b in range(3):
        n = int(lengths[b])
        y_b, s_b = rk.unroll(cell, x[b:b + 1, :n])
        torch.testing.assert_close(y_last[b], y_b[0, -1])
        torch.testing.assert_close(state.h[b], s_b.h[0])


def test_bidirectional_many_to_one_joins_forward_last_and_backward_first():
    """Albert's notes' bidirectional Buzzometer: the backward run's output at position 0 is its last."""
    torch.manual_seed(1)
    bi = rk.Bidirectional(rk.GRUCell(3, 4), rk.GRUCell(3, 4))
    x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 3])
    y, _ = rk.many_to_one(bi, x, lengths)
    for b in range(2):
        n = int(lengths[b])
        fwd, _ = rk.unroll(bi.fw, x[b:b + 1, :n])
        bwd, _ = rk.unroll(bi.bw, x[b:b + 1, :n].flip(1))
        torch.testing.assert_close(y[b], torch.cat([fwd[0, -1], bwd[0, -1]]))


def test_bidirectional_backward_run_stays_inside_each_length():
    torch.manual_seed(2)
    bi = rk.Bidirectional(rk.LSTMCell(3, 4), merge="sum")
    x, lengths = torch.randn(2, 6, 3), torch.tensor([6, 2])
    y, s = bi(x, lengths)
    y_alone, s_alone = bi(x[1:, :2])
    torch.testing.assert_close(y[1, :2], y_alone[0])
    torch.testing.assert_close(s.backward.c[1], s_alone.backward.c[0])
    assert (y[1, 2:] == 0).all()


def test_one_to_many_feeds_every_step_or_first_then_blank():
    torch.manual_seed(3)
    cell = rk.GRUCell(2, 3)
    a = torch.randn(2, 2)
    y_every, n, _ = rk.one_to_many(cell, a, max_steps=4, feed="every")
    y_ref, _ = rk.unroll(cell, a.unsqueeze(1).expand(2, 4, 2))
    torch.testing.assert_close(y_every, y_ref)
    blank = torch.full((2,), 0.5)
    y_first, _, _ = rk.one_to_many(cell, a, max_steps=4, feed="first", blank=blank)
    x_first = torch.cat([a.unsqueeze(1), blank.expand(2, 3, 2)], dim=1)
    torch.testing.assert_close(y_first, rk.unroll(cell, x_first)[0])


def test_one_to_many_stops_each_sequence_at_its_stop_symbol():
    cell = rk.ElmanCell(1, 1, bias=False, activation="identity")
    with torch.no_grad():
        cell.weight_ih.fill_(1.0), cell.weight_hh.fill_(1.0)
    a = torch.tensor([[1.0], [3.0]])                     # h_t = t * a: stop once h >= 6
    y, n, h = rk.one_to_many(cell, a, max_steps=10, stop=lambda y_t, s: y_t[:, 0] >= 6)
    assert n.tolist() == [6, 2] and y.shape == (2, 6, 1)
    assert h[:, 0].tolist() == [6.0, 6.0] and (y[1, 2:] == 0).all()


def test_encoder_decoder_starts_the_decoder_from_the_encoder_state():
    torch.manual_seed(4)
    enc, dec = rk.LSTMCell(3, 6), rk.LSTMCell(2, 6)
    net = rk.EncoderDecoder(enc, dec)
    x, y_in = torch.randn(2, 5, 3), torch.randn(2, 4, 2)
    y, _ = net(x, [5, 3], y_in, [4, 2])
    _, s = rk.unroll(enc, x, lengths=[5, 3])
    torch.testing.assert_close(y, rk.unroll(dec, y_in, lengths=[4, 2], initial_state=s)[0])


def test_layers_with_dropout_between_layers_only_in_training():
    torch.manual_seed(5)
    net = rk.Layers([rk.GRUCell(3, 4), rk.GRUCell(4, 4)], dropout=0.5)
    x = torch.randn(2, 5, 3)
    net.eval()
    y1, _ = net(x)
    y2, _ = net(x)
    torch.testing.assert_close(y1, y2)
    net.train()
    assert not torch.allclose(net(x)[0], y1)


CELLS = {name: build(name) for name in sorted(ALL)}


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
