"""rnnkit.cells.wrappers: Embedding checks its token ids; LearnedInitialState learns."""
import pytest
import torch

import rnnkit as rk


def test_token_cells_check_ids():
    cell = rk.Embedding(rk.GRUCell(4, 4), num_embeddings=5)
    with pytest.raises(ValueError, match=r"token ids in \[0, 5\); received ids in \[0, 9\]"):
        rk.unroll(cell, torch.tensor([[0, 9]]))
    with pytest.raises(TypeError, match=r"reads integer token ids; received torch.float32"):
        rk.unroll(cell, torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"token ids of shape \(B, T\); received shape \(1, 2, 4\)"):
        rk.unroll(cell, torch.zeros(1, 2, 4, dtype=torch.long))


def test_learned_initial_state_learns():
    cell = rk.LearnedInitialState(rk.LSTMCell(2, 3))
    y, _ = rk.unroll(cell, torch.randn(4, 5, 2))
    y.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in cell.initial_values)
