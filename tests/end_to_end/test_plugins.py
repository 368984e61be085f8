"""Plug-ins defined outside the package: a task (subclassing ``Task`` with a name is all it takes for ``rnnkit
train``, ``eval``, ``predict`` and the error lines of the hooks it does not declare) and a cell (``register_cell``:
``--cell NAME`` builds it in every task, and the options it does not take are refused)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.runtime.batches import Batch
from rnnkit.cells import Cell
from rnnkit.cells.kinds import CELL_KINDS, register_cell
from rnnkit.cli import main
from rnnkit.errors import UserError
from rnnkit.models import SequenceModel
from rnnkit.options import option
from rnnkit.tasks import TASKS
from rnnkit.tasks.base import REGISTRY, Task


@dataclass
class ParityConfig:
    bits: int = option("bits a sequence", 6, at_least=1)


class Parity(Task):
    """Is the number of ones odd? One label a sequence of bits."""

    name = "parity-plugin"
    Config = ParityConfig
    primary = "accuracy"
    higher_is_better = True
    needs_data = False
    predicts = True
    train_defaults = {"steps": 6, "batch_size": 8, "eval_every": 3}

    @classmethod
    def prepare(cls, cfg, model_cfg, data, *, seed=0):
        task = cls(cfg, model_cfg, {"bits": cfg.bits}, seed=seed)
        task.load_eval_data(data)
        return task

    def _batch(self, n, seed):
        x = torch.randint(0, 2, (n, self.cfg.bits), generator=torch.Generator().manual_seed(seed))
        return Batch(x, None, x.sum(1) % 2)

    def load_eval_data(self, data):
        self.valid = self._batch(64, -1 - self.seed if self.seed else 12345)

    def build_model(self):
        return SequenceModel(self.model_cfg, vocab_size=2, embed_size=4, output_size=2, readout="last")

    def train_batch(self, step, batch_size):
        return self._batch(batch_size, self.seed * 1000 + step)

    def loss(self, model, batch, carry):
        return F.cross_entropy(model(batch.x)[0], batch.y), None, len(batch.x)

    @torch.no_grad()
    def evaluate(self, model: nn.Module):
        model.eval()
        return {"accuracy": (model(self.valid.x)[0].argmax(-1) == self.valid.y).float().mean().item()}

    def predict(self, model, text, **options):
        x = torch.tensor([[int(c) for c in text.split()]])
        return ["odd" if int(model.eval()(x)[0].argmax(-1)) else "even"]


def test_a_task_from_outside_the_package_trains_evaluates_and_predicts(tmp_path, capsys):
    assert TASKS["parity-plugin"] is Parity is REGISTRY["parity-plugin"]
    run = tmp_path / "run"
    assert main(["train", "parity-plugin", "--run", str(run), "--hidden-size", "8", "--bits", "5"]) == 0
    assert json.loads((run / "config.json").read_text())["task"] == "parity-plugin"
    assert main(["eval", str(run)]) == 0
    assert "parity-plugin eval on its validation data: accuracy" in capsys.readouterr().out
    assert main(["predict", str(run), "1 0 1 1 0"]) == 0
    assert capsys.readouterr().out.strip() in ("odd", "even")
    # hooks it does not declare: one line each, naming the tasks that have them
    assert main(["diagnose", str(run), "--out", str(tmp_path / "g.png")]) == 2
    assert "expected a run of a task with gradient curves (charlm, classify" in capsys.readouterr().err
    assert main(["predict", str(run), "1 0", "--attention-map", str(tmp_path / "a.png")]) == 2
    assert "--attention-map is for seq2seq and caption runs" in capsys.readouterr().err


def test_undeclared_hooks_have_defaults():
    task = Parity(ParityConfig(), None, {})
    model = nn.Linear(2, 2)
    assert task.test_metrics(model) is None and task.figures(None, model) == [] and task.report({}) == []
    assert [p for g in task.param_groups(model) for p in g["params"]] == list(model.parameters())
    with pytest.raises(UserError, match="gradient curves"):
        task.diagnose_inputs(1)
    with pytest.raises(UserError, match=r"task with predictions \(classify, .*tag"):
        Task.predict(task, model, "")


class LeakyCell(Cell):
    """h_t = (1 - a) h_(t-1) + a tanh(W [x_t, h_(t-1)] + b): a leaky-integrator cell, nowhere in rnnkit."""

    def __init__(self, input_size: int, hidden_size: int, leak: float = 0.5):
        super().__init__()
        self.input_size, self.output_size, self.leak = input_size, hidden_size, leak
        self.W = nn.Linear(input_size + hidden_size, hidden_size)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.output_size, device=device, dtype=dtype)

    def forward(self, x, h):
        h = (1 - self.leak) * h + self.leak * torch.tanh(self.W(torch.cat([x, h], -1)))
        return h, h


register_cell("leaky-plugin", lambda cfg, d: LeakyCell(d, cfg.hidden_size))


def test_a_cell_from_outside_the_package_is_a_flag_of_every_task(tmp_path, capsys):
    assert "leaky-plugin" in CELL_KINDS
    run = tmp_path / "run"
    assert main(["train", "parity-plugin", "--run", str(run), "--cell", "leaky-plugin", "--hidden-size", "6"]) == 0
    from rnnkit.runs import open_run
    _, model = open_run(run)
    assert isinstance(model.runner.layers[0].cell, LeakyCell)
    capsys.readouterr()
    assert main(["train", "parity-plugin", "--run", str(tmp_path / "r2"), "--cell", "leaky-plugin", "--layer-norm"]) == 2
    assert "--layer-norm is for lstm and gru cells; received --cell leaky-plugin" in capsys.readouterr().err
    with pytest.raises(ValueError, match="a cell's options are among"):
        register_cell("bad-plugin", lambda cfg, d: LeakyCell(d, 2), ("leak",))


class ParityRecipe(Parity):
    """The same task with a recipe of every kind: the task's defaults and one that follows from the data."""

    name = "parity-recipe-plugin"
    model_defaults = {"hidden_size": 5, "num_layers": 3}
    train_defaults = {"steps": 4, "batch_size": 4, "eval_every": 2, "lr": 0.01, "clip_norm": 2.0}

    def data_defaults(self, batch_size=None):
        return {"lr": 0.02, "steps": 6, "num_layers": 2, "clip_norm": 3.0, "weight_decay": 0.5, "eval_every": 3}


def test_configuration_resolves_dataclass_then_task_then_data_then_config_file_then_flags(tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"steps": 3, "num_layers": 1, "weight_decay": 0.25}))
    run = tmp_path / "run"
    assert main(["train", "parity-recipe-plugin", "--run", str(run), "--config", str(settings), "--max-steps", "2"]) == 0
    config = json.loads((run / "config.json").read_text())
    model, train = config["model"], config["train"]
    assert model["cell"] == "lstm" and train["momentum"] == 0.0           # the dataclasses' defaults
    assert model["hidden_size"] == 5 and train["batch_size"] == 4         # the task's recipe
    assert train["lr"] == 0.02 and train["clip_norm"] == 3.0              # the data's recipe over the task's
    assert model["num_layers"] == 1 and train["weight_decay"] == 0.25     # --config over the data's
    assert train["steps"] == 2                                            # a flag over --config
    assert train["eval_every"] == 1                    # the recipe's two validations kept over the steps given
    assert json.loads((run / "checkpoint" / "trainer.json").read_text())["step"] == 2


class MeanBranch(nn.Module):
    """A convolutional branch of one 1x1 convolution, pooled over each series' own steps."""

    def __init__(self, input_size, width):
        super().__init__()
        self.conv, self.output_size = nn.Conv1d(input_size, width, 1), width

    def forward(self, x, lengths):
        live = (torch.arange(x.shape[1])[None] < torch.as_tensor(lengths)[:, None]).unsqueeze(1).to(x.dtype)
        return (self.conv(x.transpose(1, 2)) * live).sum(-1) / live.sum(-1).clamp(min=1)


def test_a_series_model_family_from_outside_the_package_trains_from_the_command_line(tmp_path):
    from datasets import ts_folder
    from rnnkit.models import LSTMFCN
    from rnnkit.models.families import SERIES_FAMILIES, SeriesFamily, register_series_family

    class LSTMMean(LSTMFCN):
        def branch(self, input_size, filters):
            return MeanBranch(input_size, filters[0])

    register_series_family("lstm-mean-plugin", SeriesFamily(LSTMMean, lambda filters, d: 0.1,
                                                            lambda text, lengths, d, seed, grouped: (6,)))
    try:
        folder = ts_folder(tmp_path / "Toy", train=40, test=10)
        run = tmp_path / "run"
        assert main(["train", "classify", "--data", str(folder), "--run", str(run), "--model", "lstm-mean-plugin",
                     "--max-steps", "4"]) == 0
        config = json.loads((run / "config.json").read_text())
        assert config["task_config"]["model"] == "lstm-mean-plugin" and config["meta"]["filters"] == [6]
        assert config["task_config"]["batches"] == "random"          # a family with a convolutional branch
        assert main(["eval", str(run)]) == 0
        with pytest.raises(UserError, match="--model must be one of .*lstm-mean-plugin"):
            from rnnkit.tasks.classify import ClassifyConfig
            from rnnkit.options import check_config
            check_config(ClassifyConfig(model="no-such-family"))
    finally:
        del SERIES_FAMILIES["lstm-mean-plugin"]


def test_a_text_model_family_from_outside_the_package_trains_from_the_command_line(tmp_path):
    from datasets import sentiment_csv
    from rnnkit.models import SequenceModel
    from rnnkit.models.families import TEXT_FAMILIES, TextFamily, register_text_family

    class MeanOfEmbeddings(SequenceModel):
        """The recurrent model's summary joined with the mean of the token embeddings."""

        def __init__(self, rnn, *, vocab_size, embed_size, output_size, readout):
            super().__init__(rnn, vocab_size=vocab_size, embed_size=embed_size, output_size=output_size,
                             readout=readout)
            self.head = nn.Linear(self.runner.output_size + embed_size, output_size)

        def forward(self, x, lengths=None, state=None):
            h = self.features(x)
            live = (torch.arange(x.shape[1])[None] < torch.as_tensor(lengths)[:, None]).unsqueeze(-1).to(h.dtype)
            mean = (h * live).sum(1) / live.sum(1).clamp(min=1)
            return self.head(torch.cat([self.read(h, lengths, state), mean], -1)), None

    register_text_family("mean-plugin", TextFamily(MeanOfEmbeddings, step_cost=1.2))
    try:
        run = tmp_path / "run"
        assert main(["train", "classify", "--data", str(sentiment_csv(tmp_path / "s.csv")), "--run", str(run),
                     "--model", "mean-plugin", "--max-steps", "3"]) == 0
        config = json.loads((run / "config.json").read_text())
        assert config["task_config"]["model"] == "mean-plugin"
        assert main(["eval", str(run)]) == 0
        assert main(["predict", str(run), "great lovely film"]) == 0
    finally:
        del TEXT_FAMILIES["mean-plugin"]
