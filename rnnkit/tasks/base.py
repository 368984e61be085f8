"""What every task shares: its three configs, deterministic batches, and the hooks the Trainer calls.

A task = dataset builder + model head + metrics + defaults. ``prepare`` reads the user's data and
records in ``meta`` what the model needs (vocabulary, labels, scaling); ``config.json`` keeps ``meta``,
so ``from_run`` rebuilds the task, and its model, from a run folder alone.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..runtime.batches import Batch
from ..errors import UserError
from ..models import RecurrentConfig
from ..state import State


def epoch_indices(n: int, batch_size: int, seed: int, step: int) -> Tensor:
    """The example indices of training batch ``step``: epochs are seeded shuffles, batch by batch.

    >>> a = epoch_indices(10, 4, seed=0, step=3)          # second batch of epoch 1
    >>> bool((a == epoch_indices(10, 4, seed=0, step=3)).all()), len(epoch_indices(10, 4, 0, 2))
    (True, 2)
    """
    per_epoch = math.ceil(n / batch_size)
    epoch, i = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch))
    return perm[i * batch_size:(i + 1) * batch_size]


BUCKET = 32   # batches per bucket: sorting inside a bucket of this many batches keeps every epoch's order random


def bucketed_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[Tensor]:
    """One epoch's batches of example indices, grouped by length (the Simple RNNs post groups minibatches by
    length): a seeded shuffle is cut into buckets of ``BUCKET`` batches, each bucket is sorted by length and cut
    into batches, and the batches are shuffled. Each example is in one batch an epoch; a batch pads to its own
    longest member, so the padded steps an epoch costs shrink towards the sum of the lengths.

    >>> batches = bucketed_batches([5, 1, 4, 2, 3, 6], 2, seed=0, epoch=0)
    >>> sorted(i for b in batches for i in b.tolist()), len(batches)
    ([0, 1, 2, 3, 4, 5], 3)
    >>> [sorted([5, 1, 4, 2, 3, 6][i] for i in b.tolist()) for b in sorted(batches, key=lambda b: int(b[0]))]
    [[5, 6], [1, 2], [3, 4]]
    """
    g = torch.Generator().manual_seed(seed * 7919 + epoch)
    n = len(lengths)
    perm = torch.randperm(n, generator=g)
    size = torch.as_tensor(lengths)
    batches: list[Tensor] = []
    for a in range(0, n, batch_size * BUCKET):
        chunk = perm[a:a + batch_size * BUCKET]
        chunk = chunk[torch.sort(size[chunk], stable=True).indices]
        batches += list(chunk.split(batch_size))
    order = torch.randperm(len(batches), generator=g)
    return [batches[i] for i in order.tolist()]


def padded_cost(lengths: list[int], batch_size: int, seed: int = 0, grouped: bool = True) -> float:
    """The padded steps one update costs on average: ``sum over batches of (batch size x its longest length)``
    over one epoch of ``bucketed_batches`` (``grouped``) or of random batches, divided by the number of batches.

    >>> padded_cost([10, 10, 1, 1], 2)          # buckets sort by length: (10, 10) and (1, 1)
    11.0
    >>> padded_cost([10, 10, 1, 1], 2, seed=1, grouped=False)    # this seed's random batches: (10, 1) twice
    20.0
    """
    size = torch.as_tensor(lengths)
    batches = bucketed_batches(lengths if grouped else [0] * len(lengths), batch_size, seed, 0)
    return sum(len(b) * int(size[b].max()) for b in batches) / max(len(batches), 1)


STEP_OVERHEAD = 550   # what one update costs beyond its steps, in steps of the series model (measured)


def affordable_updates(lengths: list[int], batch: int, per_step: float, budget: float, seed: int = 0,
                       grouped: bool = True) -> int:
    """Updates of ``batch`` examples (grouped by length, or random) that ``budget`` steps pay for: each costs the
    padded steps of its batch times ``per_step`` (a step's cost relative to the budget's unit) plus
    ``STEP_OVERHEAD``.

    >>> affordable_updates([10] * 8, 4, 1.0, 5900)              # 40 padded steps + 550 an update
    10
    """
    return int(budget / (max(padded_cost(lengths, batch, seed, grouped), 1) * per_step + STEP_OVERHEAD))


def split_off(n: int, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """A seeded random (train, valid) split of ``range(n)``; at least one example on each side when n > 1."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 104729))
    k = min(max(1, round(n * fraction)), n - 1) if n > 1 else 0
    return perm[k:], perm[:k]


REGISTRY: dict[str, type["Task"]] = {}      # name -> task class: every subclass that sets ``name`` registers itself


class Task:
    """Base of the tasks under ``rnnkit/tasks``; see each module for the data it reads."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            REGISTRY[cls.name] = cls

    name: ClassVar[str]
    Config: ClassVar[type]
    primary: ClassVar[str]
    higher_is_better: ClassVar[bool]
    unit: ClassVar[str] = "seq"
    needs_data: ClassVar[bool] = True
    model_defaults: ClassVar[dict] = {}
    train_defaults: ClassVar[dict] = {}

    def __init__(self, cfg, model_cfg: RecurrentConfig, meta: dict, *, seed: int = 0):
        self.cfg, self.model_cfg, self.meta, self.seed = cfg, model_cfg, meta, seed

    # -- the Trainer's hooks -----------------------------------------------------------
    def initial_carry(self, model: nn.Module, batch_size: int) -> State:
        """State carried between training batches (truncated BPTT); None: every batch starts afresh."""
        return None

    def starts_stream(self, step: int, batch_size: int) -> bool:
        """True where the carried state must restart (a new pass over the streams)."""
        return False

    keeps_last: bool = False     # keep the latest weights at every validation (no held-out data to choose by)

    def data_defaults(self, batch_size: int | None = None) -> dict:
        """TrainConfig and RecurrentConfig fields chosen from the prepared data (e.g. steps from the size of a
        dataset); they replace the task's ``train_defaults`` and ``model_defaults`` wherever neither a flag nor
        ``--config`` set the field; ``batch_size`` is the user's, when given. Called before the model is built."""
        return {}

    _epoch: tuple[int, int] | None = None     # the (epoch, batch size) whose batches ``_epoch_batches`` holds

    def bucketed_rows(self, step: int, batch_size: int, n: int, lengths: Callable[[], list[int]]) -> Tensor:
        """The rows of training batch ``step`` among ``n`` examples: seeded epochs of ``bucketed_batches`` over
        ``lengths()`` (asked for once an epoch), each epoch's batches kept until the next."""
        epoch, i = divmod(step, math.ceil(n / batch_size))
        if self._epoch != (epoch, batch_size):
            self._epoch = (epoch, batch_size)
            self._epoch_batches = bucketed_batches(lengths(), batch_size, self.seed, epoch)
        return self._epoch_batches[i]

    def initialize(self, model: nn.Module) -> None:
        """Called once on a freshly built model before training (e.g. a language model's weights copied in)."""

    def param_groups(self, model: nn.Module) -> list[dict]:
        """The optimizer's parameter groups (a group may carry ``lr_factor`` and ``start_step``); default: one."""
        return [{"params": list(model.parameters())}]

    # -- what a finished run offers: each hook has a default, so a task declares only what it has --------------
    predicts: ClassVar[bool] = False          # ``rnnkit predict RUN INPUT`` (``predict`` below)
    attention_maps: ClassVar[bool] = False    # ``predict(..., attention_map=PNG)``
    gradient_curves: ClassVar[bool] = False   # ``rnnkit diagnose RUN`` (``late_loss`` below)
    streams_text: ClassVar[bool] = False      # ``rnnkit generate RUN`` streams text (a language model)
    samples: ClassVar[bool] = False           # ``rnnkit generate RUN`` prints sampled sequences (``sample_lines``)
    outputs_classes: ClassVar[bool] = True    # the head's outputs are class scores (not values to regress)
    # the data ``rnnkit.fit`` takes in memory beside a path: "labelled" (X, y), "pairs" (source, target), "columns"
    # (a forecast's table) or "text" (a language model's); None: a path only
    in_memory: ClassVar[str | None] = None

    def test_metrics(self, model: nn.Module) -> "tuple[str, dict[str, float]] | None":
        """(where, metrics) of a test file scored once with the weights validation selected; None: no test file."""
        return None

    def figures(self, run_dir: Path, model: nn.Module) -> list[Path]:
        """PNGs drawn into the run folder at the end of training (confusion matrix, attention maps)."""
        return []

    def report(self, metrics: dict) -> list[str]:
        """Lines printed before a run's metrics (per-class scores, say)."""
        return []

    def predict(self, model: nn.Module, text: str, **options) -> list[str]:
        """The lines ``rnnkit predict`` prints for one input (tasks with ``predicts = True``)."""
        raise UserError(f"expected a run of a task with predictions ({', '.join(tasks_with('predicts'))}); this is a "
                        f"{self.name} run")

    def sample_lines(self, model: nn.Module, count: int, *, seed: int | None = None) -> list[str]:
        """``count`` sequences sampled from the model, one a line, with what the task says of each (tasks with
        ``samples = True``)."""
        raise UserError(f"expected a run of a task that generates ({', '.join(tasks_with('streams_text', 'samples'))}); this is a "
                        f"{self.name} run")

    def diagnose_inputs(self, n: int) -> Tensor:
        """``n`` validation inputs of one length, without padding: token ids (n, T) or features (n, T, D). A task
        that gives them has gradient curves (``late_loss`` below)."""
        raise UserError(f"expected a run of a task with gradient curves ({', '.join(tasks_with('gradient_curves'))}); this is a "
                        f"{self.name} run")

    def late_loss(self, model: nn.Module, n: int):
        """The model's input features (n, T, D) and ``loss(y_T)`` of its last step's output (n, O): what
        ``rnnkit diagnose`` differentiates with respect to every earlier state. By default the cross-entropy of
        the head's prediction from the last step against the model's own likeliest class (no label needed: the
        question is how far back that prediction feels), or half the squared output for one output; the memory
        problems use their own targets."""
        from ..models import SequenceModel
        if not isinstance(model, SequenceModel):
            raise UserError("expected a recurrent stack with a head to diagnose; this model is not one")
        if model.head.in_features != model.runner.output_size:
            raise UserError(f"expected a model whose head reads the recurrent stack alone to diagnose; this one's "
                            f"reads {model.head.in_features} features where the stack gives {model.runner.output_size} "
                            f"(LSTM-FCN's convolutional branch)")
        x = model.features(self.diagnose_inputs(n).to(model.device))

        def loss(y_T: Tensor) -> Tensor:
            out = model.head(y_T)
            if not self.outputs_classes or out.shape[-1] == 1:
                return 0.5 * out.pow(2).mean()
            return F.cross_entropy(out, out.argmax(-1).detach())
        return x, loss

    def diagnose_title(self) -> str:
        return f"{self.model_cfg.cell} on {self.name}"

    # -- to be written by each task ----------------------------------------------------
    @classmethod
    def prepare(cls, cfg, model_cfg: RecurrentConfig, data: str | None, *, seed: int = 0) -> "Task":
        raise NotImplementedError

    def load_eval_data(self, data: str | None) -> None:
        """Read evaluation data for ``rnnkit eval`` (default: the run's own validation data)."""
        raise NotImplementedError

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def train_batch(self, step: int, batch_size: int) -> Batch:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Batch, carry: State) -> tuple[Tensor, State, int]:
        raise NotImplementedError

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        raise NotImplementedError


class GeneratedTask(Task):
    """A task whose sequences come from a generator, not a file (the Reber grammar, the copy and adding problems):
    no ``--data`` to train, training batch k drawn from the seed and k alone (``train_seed``), so a resumed run sees
    the batches it would have seen, and a validation set from a seed no training batch uses. Its models predict each
    step from the steps before, so they read left to right."""

    needs_data = False
    generates: ClassVar[str] = "sequences"        # what, in the error lines
    reader: ClassVar[str] = "the model"           # who reads left to right, in the error lines

    @classmethod
    def prepare(cls, cfg, model_cfg: RecurrentConfig, data: str | None, *, seed: int = 0) -> "GeneratedTask":
        if data:
            raise UserError(f"the {cls.name} task generates its {cls.generates}; expected no --data, received {data!r}")
        if model_cfg.bidirectional:
            raise UserError(f"{cls.reader} reads left to right; received --bidirectional")
        task = cls(cfg, model_cfg, cls.generated_meta(cfg), seed=seed)
        task.load_eval_data(None)
        return task

    @classmethod
    def generated_meta(cls, cfg) -> dict:
        """What a run folder records of the generator (its symbols, the problem)."""
        return {}

    def train_seed(self, step: int) -> int:
        return self.seed * 1_000_003 + step


def equal_length(sequences: list[Tensor], n: int) -> Tensor:
    """The ``n`` longest of ``sequences`` (each (T_i, ...)), all cut to the shortest of them and stacked: a batch
    without padding, for ``diagnose_inputs``.

    >>> equal_length([torch.zeros(3), torch.ones(5), torch.ones(4)], 2).shape
    torch.Size([2, 4])
    """
    if not sequences:
        raise UserError("expected validation data to diagnose; received none")
    longest = sorted(sequences, key=len, reverse=True)[:n]
    T = len(longest[-1])
    if T < 1:
        raise UserError("expected validation sequences of at least one step to diagnose")
    return torch.stack([s[:T] for s in longest])


def tasks_with(*capabilities: str) -> list[str]:
    """The registered tasks declaring any of ``capabilities`` (class attributes of ``Task``), for error lines.

    >>> tasks_with("attention_maps")
    ['seq2seq', 'caption']
    """
    return [name for name, t in REGISTRY.items() if any(getattr(t, c) for c in capabilities)]


def device_of(model: nn.Module) -> torch.device:
    """Where a model's weights are (any module, not only rnnkit's)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def data_path(data: str | None, task: str) -> Path:
    from ..errors import UserError
    if not data:
        raise UserError(f"expected --data PATH for task {task}; received none")
    return Path(data).expanduser()
