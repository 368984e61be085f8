"""rnnkit.cells.elman: the Simple RNNs post's concatenated form."""
import torch

from cases import BASE, build


def test_elman_is_seed_002_concatenated_form():
    """The Simple RNNs post: next state = act([x, h] W) with one matrix on the concatenation; W = [W_ih; W_hh]."""
    cell = build("elman", BASE)
    x, h = torch.randn(3, 3, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    W = torch.cat([cell.weight_ih, cell.weight_hh], dim=0)
    torch.testing.assert_close(cell(x, h)[1], torch.tanh(torch.cat([x, h], dim=1) @ W + cell.bias))
