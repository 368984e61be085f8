"""rnnkit.models.seq2seq: the encoder-decoder's attention over the source and a zero-fed decoder."""
import pytest
import torch

from rnnkit.models import RecurrentConfig, Seq2Seq

pytestmark = pytest.mark.slow


def _seq2seq(attention="additive", cell="lstm", bidirectional=True):
    torch.manual_seed(0)
    return Seq2Seq(RecurrentConfig(cell=cell, hidden_size=12, bidirectional=bidirectional), 9, 11, embed_size=6,
                   attention=attention).eval()


def test_seq2seq_attention_sums_to_one_on_the_source_and_is_zero_on_padding():
    model = _seq2seq()
    src, lengths = torch.randint(4, 9, (4, 6)), torch.tensor([6, 2, 4, 0])
    memory, mask, state = model.encode(src, lengths)
    h = torch.randn(4, model.decoder.output_size)
    _, alpha = model.attention(h, memory, mask)
    for b, n in enumerate(lengths.tolist()):
        assert torch.all(alpha[b, n:] == 0)
        assert alpha[b].sum().item() == pytest.approx(1.0 if n else 0.0, abs=1e-6)


@pytest.mark.parametrize("attention", ["none", "additive"])
def test_a_zero_fed_decoder_receives_zeros_and_never_reads_the_previous_token(attention):
    """Albert's notes' sorter: the decoder's input is zeros at every step, so teacher forcing and decoding read
    nothing but the encoder's bridged state (and the context, with attention)."""
    torch.manual_seed(0)
    model = Seq2Seq(RecurrentConfig(hidden_size=12, num_layers=2), 9, 11, embed_size=6, attention=attention,
                    decoder_input="zeros").eval()
    seen = []
    model.decoder.register_forward_pre_hook(lambda _, args: seen.append(args[0][:, :6].clone()))
    src, lengths = torch.randint(4, 9, (3, 5)), torch.tensor([5, 2, 4])
    a = model(src, lengths, torch.randint(0, 11, (3, 7)))
    b = model(src, lengths, torch.randint(0, 11, (3, 7)))
    assert seen and all(not x.any() for x in seen)                 # the embedding part of every input is zero
    torch.testing.assert_close(a, b, rtol=0, atol=0)               # whatever the targets, the same outputs
    fed = Seq2Seq(RecurrentConfig(hidden_size=12, num_layers=2), 9, 11, embed_size=6, attention=attention)
    fed.load_state_dict(model.state_dict())
    fed.eval()
    assert not torch.allclose(fed(src, lengths, torch.randint(0, 11, (3, 7))), a)
