"""rnnkit.tasks.seq2seq: validation holds out whole sources, eval on a folder, the decoder input from the flags."""
import pytest

from rnnkit.models import RecurrentConfig
from rnnkit.tasks.seq2seq import Seq2SeqConfig, Seq2SeqTask

pytestmark = pytest.mark.slow


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


def test_decoder_input_zeros_reaches_the_model_from_the_flags():
    cfg = Seq2SeqConfig(decoder_input="zeros", attention="none")
    task = Seq2SeqTask.prepare(cfg, RecurrentConfig(hidden_size=8), None, seed=0)
    model = task.build_model()
    assert model.decoder_input == "zeros" and model.attention is None
