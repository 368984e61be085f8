"""rnnkit.decoding: a beam of one is greedy (seq2seq and captioner), a wider beam finds what greedy misses,
and padding, BOS and unknown are never emitted."""
import pytest
import torch

from rnnkit.decoding import beam_search, greedy
from rnnkit.models import Captioner, RecurrentConfig, Seq2Seq

pytestmark = pytest.mark.slow


def _seq2seq(attention="additive", cell="lstm", bidirectional=True):
    torch.manual_seed(0)
    return Seq2Seq(RecurrentConfig(cell=cell, hidden_size=12, bidirectional=bidirectional), 9, 11, embed_size=6,
                   attention=attention).eval()


def _captioner(kind, cell="lstm"):
    torch.manual_seed(1)
    return Captioner(RecurrentConfig(cell=cell, hidden_size=10), 9, grid_size=3 * 6, attention=kind, channels=5,
                     embed_size=4).eval()


@pytest.mark.parametrize("attention,cell,bidirectional", [("additive", "lstm", True), ("dot", "gru", False),
                                                          ("none", "lstm", True)])
def test_seq2seq_beam_of_one_is_greedy(attention, cell, bidirectional):
    model = _seq2seq(attention, cell, bidirectional)
    src, lengths = torch.randint(4, 9, (5, 7)), torch.tensor([7, 3, 5, 1, 6])
    outs, maps = model.decode(src, lengths, bos=1, eos=2, max_len=12)
    for b in range(5):
        memory, mask, state = model.encode(src[b:b + 1, :lengths[b]], lengths[b:b + 1])
        carry = (memory.new_zeros(1, model.context_size), state)
        out, att = beam_search(model._stepper(memory, mask), carry, bos=1, eos=2, max_len=12, beam=1)
        assert out == outs[b]
        assert len(att) == len(maps[b])
        for a, g in zip(att, maps[b]):
            torch.testing.assert_close(a, g[:int(lengths[b])], atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind,cell", [("slides", "lstm"), ("soft", "gru"), ("none", "lstm")])
def test_captioner_beam_of_one_is_greedy(kind, cell):
    model = _captioner(kind, cell)
    images, widths = torch.rand(3, 1, 12, 24), torch.tensor([24, 13, 20])
    outs, _, _ = model.decode(images, widths, bos=1, eos=2, max_len=8)
    for b in range(3):
        out, _, _ = model.decode(images[b:b + 1, :, :, :widths[b]], widths[b:b + 1], bos=1, eos=2, max_len=8, beam=1)
        grid, mask, _, carry = model.encode(images[b:b + 1, :, :, :widths[b]], widths[b:b + 1])
        beamed, _ = beam_search(model._stepper(grid, mask), carry, bos=1, eos=2, max_len=8, beam=1)
        assert beamed == out[0]
    # one image alone decodes as it does in the padded batch (the padding's grid cells are masked)
    for b in range(3):
        alone, _, _ = model.decode(images[b:b + 1, :, :, :widths[b]], widths[b:b + 1], bos=1, eos=2, max_len=8)
        assert alone[0] == outs[b]


def test_beam_search_finds_the_likelier_output_that_greedy_misses():
    """Tokens 0 = BOS, 1 = EOS, 2 = A, 3 = B. After BOS: A 0.6, B 0.4. After A: EOS 0.4 (or A, B 0.3 each);
    after B: EOS 1.0. Greedy says "A" (0.6 * 0.4 = 0.24); beam 2 finds "B" (0.4)."""
    table = torch.tensor([[0, 0, 0.6, 0.4], [0, 1, 0, 0], [0, 0.4, 0.3, 0.3], [0, 1.0, 0, 0]]).clamp(min=1e-9).log()

    def step(y_prev, carry):
        return table[y_prev], carry, None

    assert greedy(step, torch.zeros(1, 1), 1, bos=0, eos=1, max_len=5)[0] == [[2]]
    assert beam_search(step, torch.zeros(1, 1), bos=0, eos=1, max_len=5, beam=1)[0] == [2]
    assert beam_search(step, torch.zeros(1, 1), bos=0, eos=1, max_len=5, beam=2)[0] == [3]


def test_decoders_never_emit_padding_bos_or_unknown_even_where_they_are_likeliest():
    """A step that puts its largest logits on PAD, UNK and BOS: greedy and beam search emit the likeliest other
    token, and the tasks pass the vocabulary's NEVER_EMITTED."""
    from rnnkit.data.vocab import BOS_ID, EOS_ID, NEVER_EMITTED, PAD_ID, UNK_ID
    V = 7
    def step(y_prev, carry):
        logits = torch.zeros(y_prev.shape[0], V)
        logits[:, [PAD_ID, UNK_ID, BOS_ID]] = 9.0
        logits[:, 5] = 2.0 * (y_prev != 5)                   # then token 5 once, then EOS
        logits[:, EOS_ID] = 3.0 * (y_prev == 5)
        return logits, carry, None

    assert greedy(step, torch.zeros(2, 1), 2, bos=BOS_ID, eos=EOS_ID, max_len=6)[0] == [[PAD_ID] * 6] * 2  # unbanned
    assert greedy(step, torch.zeros(2, 1), 2, bos=BOS_ID, eos=EOS_ID, max_len=6, banned=NEVER_EMITTED)[0] == [[5]] * 2
    for width in (1, 3):
        assert beam_search(step, torch.zeros(1, 1), bos=BOS_ID, eos=EOS_ID, max_len=6, beam=width,
                           banned=NEVER_EMITTED)[0] == [5]
