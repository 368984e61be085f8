"""What texts choose when left to auto: LSTM-CNN for characters, the recurrent model for words and for a start from
a language model; a model named on the command line is kept."""
from dataclasses import replace
from pathlib import Path

import pytest

from rnnkit.models import RecurrentConfig
from rnnkit.tasks import TASKS
from rnnkit.tasks.text_inputs import TextInputs


@pytest.mark.parametrize("tokens,init_from,model,expected", [
    ("char", "", "auto", "lstm-cnn"),
    ("word", "", "auto", "rnn"),
    ("char", "", "rnn", "rnn"),
    ("word", "", "lstm-cnn", "lstm-cnn"),
])
def test_auto_reads_characters_with_convolutions_beside_the_recurrence(tokens, init_from, model, expected):
    cfg = replace(TASKS["classify"].Config(), tokens=tokens, init_from=init_from, model=model)
    resolved, _ = TextInputs.resolve(cfg, RecurrentConfig(), ["a text"], Path("t.csv"))
    assert resolved.model == expected and resolved.readout == "max" and resolved.batches == "length"


def test_a_start_from_a_language_model_stays_recurrent(tmp_path):
    from rnnkit.cli import main
    from datasets import text_file
    lm = tmp_path / "lm"
    assert main(["train", "charlm", "--data", str(text_file(tmp_path / "t.txt")), "--run", str(lm),
                 "--max-steps", "2", "--hidden-size", "8"]) == 0
    cfg = replace(TASKS["classify"].Config(), tokens="char", init_from=str(lm))
    resolved, _ = TextInputs.resolve(cfg, RecurrentConfig(), ["a text"], Path("t.csv"))
    assert resolved.model == "rnn"
