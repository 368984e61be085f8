"""rnnkit.cells.lstm: clipping bounds the memory; without a forget gate the memory accumulates."""
import torch

import rnnkit as rk


def test_lstm_cell_clip_bounds_the_memory():
    cell = rk.LSTMCell(3, 4, cell_clip=0.05, proj_size=2, proj_clip=0.01)
    _, s = rk.unroll(cell, 10 * torch.randn(2, 20, 3))
    assert s.c.abs().max() <= 0.05 + 1e-7 and s.h.abs().max() <= 0.01 + 1e-7
    assert s.c.abs().max() > 0.04  # the clip was reached, so the check is not vacuous


def test_lstm_without_forget_gate_accumulates():
    """The RNN 1 notes' first LSTM: c_t = c_{t-1} + i_t u_t, so with u > 0 everywhere c only grows."""
    cell = rk.LSTMCell(1, 2, forget_gate=False, activation="relu")
    with torch.no_grad():
        cell.weight_ih.fill_(1.0), cell.weight_hh.zero_(), cell.bias.zero_()
    _, s1 = rk.unroll(cell, torch.ones(1, 3, 1))
    _, s2 = rk.unroll(cell, torch.ones(1, 6, 1))
    assert cell.weight_ih.shape == (1, 6)
    torch.testing.assert_close(s2.c, 2 * s1.c)
