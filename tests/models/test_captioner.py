"""rnnkit.models.captioner: attention over the image grid, the slides' attention-LSTM step and its form."""
import pytest
import torch

from rnnkit.models import Captioner, RecurrentConfig

pytestmark = pytest.mark.slow


def _captioner(kind, cell="lstm"):
    torch.manual_seed(1)
    return Captioner(RecurrentConfig(cell=cell, hidden_size=10), 9, grid_size=3 * 6, attention=kind, channels=5,
                     embed_size=4).eval()


@pytest.mark.parametrize("kind", ["slides", "soft"])
def test_caption_attention_sums_to_one_on_the_image_and_is_zero_past_its_width(kind):
    model = _captioner(kind)
    images, widths = torch.rand(2, 1, 12, 24), torch.tensor([24, 9])
    grid, mask, (h, w), carry = model.encode(images, widths)
    assert mask[1].view(-1)[:h * w].view(h, w)[:, 3:].sum() == 0           # 9 pixels -> 3 grid columns
    y = torch.tensor([1, 1])
    for _ in range(3):
        _, carry, alpha = model.step(y, carry, grid, mask)
        weights = alpha if kind == "soft" else carry[1]                   # the slides' a_t is in the carry
        assert torch.all(weights[~mask] == 0)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2))
        y = torch.tensor([5, 6])


def test_slides_attention_lstm_step_equals_the_slides_equation():
    """(i, f, o, g, a_t) = (σ, σ, σ, tanh, softmax) ∘ W (I ∘ a_{t−1}, h_{t−1}, x), W one matrix assembled
    from the model's weights, then c_t = f c_{t−1} + i g and h_t = o tanh(c_t)."""
    torch.manual_seed(3)
    model = _captioner("slides").double()
    cell = model.decoder
    C, E, H, G = 5, 4, 10, model.grid_size
    images, widths = torch.rand(2, 1, 12, 24, dtype=torch.float64), torch.tensor([24, 17])
    grid, mask, _, (state, a_prev) = model.encode(images, widths)
    state = type(state)(torch.randn(2, H, dtype=torch.float64), torch.randn(2, H, dtype=torch.float64))
    a_prev = torch.softmax(torch.randn(2, G, dtype=torch.float64).masked_fill(~mask, float("-inf")), -1)
    y = torch.tensor([4, 7])
    logits, (new_state, a_t), used = model.step(y, (state, a_prev), grid, mask)

    # W's rows: the LSTM's gates (rnnkit's column order i, f, g, o of weight_ih / weight_hh), then the G attention
    # rows; its columns read [I ∘ a_{t-1}; h_{t-1}; x]
    W_ih, W_hh = cell.weight_ih.T, cell.weight_hh.T                       # (4H, C+E), (4H, H)
    W_gates = torch.cat([W_ih[:, :C], W_hh, W_ih[:, C:]], dim=1)          # (4H, C+H+E)
    W = torch.cat([W_gates, model.attend.weight], dim=0)                  # (4H+G, C+H+E)
    b = torch.cat([cell.bias + torch.cat([torch.zeros(H), torch.full((H,), cell.forget_bias), torch.zeros(2 * H)]).double(),
                   model.attend.bias])
    x = model.embedding(y)
    z_in = torch.einsum("bg,bgc->bc", a_prev, grid)                        # I ∘ a_{t-1}
    pre = torch.cat([z_in, state.h, x], dim=1) @ W.T + b
    i, f, g, o = pre[:, :H].sigmoid(), pre[:, H:2 * H].sigmoid(), pre[:, 2 * H:3 * H].tanh(), pre[:, 3 * H:4 * H].sigmoid()
    a_expected = torch.softmax(pre[:, 4 * H:].masked_fill(~mask, float("-inf")), -1)
    c = f * state.c + i * g
    h = o * torch.tanh(c)
    torch.testing.assert_close(new_state.c, c)
    torch.testing.assert_close(new_state.h, h)
    torch.testing.assert_close(a_t, a_expected)
    torch.testing.assert_close(used, a_prev)
    torch.testing.assert_close(logits, model.head(h))


def test_slides_form_needs_one_plain_lstm_layer():
    with pytest.raises(ValueError, match="one plain LSTM layer"):
        Captioner(RecurrentConfig(cell="gru", hidden_size=4), 5, grid_size=4, attention="slides")
