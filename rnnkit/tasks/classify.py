"""classify: many-to-one sequence classification (Albert's notes' Buzzometer, the RNN 1 notes' names -> language).

The inputs are texts (``text_inputs``: CSV / TSV, JSONL, or a folder with one subfolder per class, read as characters
or words) or numeric series (``series_inputs``: the archives' ``.ts``, UCR 2018 ``.tsv``, UEA ``.arff``; univariate or
multivariate, unequal lengths); the data's own files decide which. ``--data`` may also be a dataset folder holding
``NAME_TRAIN`` and ``NAME_TEST`` files: the archive's own split is then used. This module is what a classifier adds
to either: labels, the choice of weights, the loss and the scores. Model selection never looks at the test file:
validation (early stopping, the best checkpoint) is a stratified share of the training file where that share is
large enough to choose by, else the final weights of the schedule are kept; the test file is scored once, with the
selected weights, at the end. The model reads the sequence and a linear layer gives the classes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.padding import pad_sequences
from ..data.series_files import split_files
from ..data.text import labelled_split
from ..data.windows import EVAL_WINDOWS, random_window, spread_windows
from ..errors import UserError
from ..tools.figures import confusion_figure
from ..models import Ensemble, RecurrentConfig, is_ensemble, population_statistics_
from ..models.families import ModelChoices
from ..options import option
from ..state import State
from .base import Batch, Task, data_path, equal_length
from .series_inputs import SeriesInputs
from .text_inputs import TextInputs

INPUTS = {inputs.kind: inputs for inputs in (SeriesInputs, TextInputs)}   # what each kind of data is read as


def inputs_of(path: Path):
    """The inputs a file holds: series when its suffix or content says so, else texts."""
    return SeriesInputs if SeriesInputs.reads(path) else TextInputs


@dataclass
class ClassifyConfig:
    valid: str = option("validation data in the same format (default: split off --valid-fraction)", "")
    valid_fraction: float = option("share of the training data held out to choose the weights when --valid is not "
                                   "given; 0: a tenth when that is at least MIN_HELD_OUT examples and five a class, "
                                   "else none (the final weights of the whole schedule)", 0.0, at_least=0.0, below=1.0)
    tokens: str = option("text: char or word; auto: word, or char with --init-from (a character LM)", "auto",
                         choices=("auto", "char", "word"))
    lowercase: bool = option("lowercase text first", True)
    max_len: int = option("keep at most this many tokens / steps per example (0: all)", 0, at_least=0)
    min_count: int = option("tokens seen fewer times in training become <unk>", 2, at_least=1)
    embed_size: int = option("token embedding size (text data)", 128, at_least=1, at_most=65536)
    readout: str = option("what the classes are read from: the last step (both ends when bidirectional), or the "
                          "mean, max or attention-weighted sum of every step's output (padding excluded); auto: max "
                          "for text, last for series", "auto", choices=("auto", "last", "mean", "max", "attention"))
    model: str = option("rnn (the recurrent stack and --readout) or, for series, a convolutional branch beside it: "
                        "lstm-fcn (FCN, Karim et al. 2017), lstm-inception (InceptionTime's network, Ismail Fawaz et "
                        "al. 2020); for text, convolutions of widths 3, 5 and 7 over the embeddings beside it: "
                        "lstm-cnn (Kim 2014; Zhang et al. 2015); or a registered family; auto: lstm-fcn for series, "
                        "lstm-cnn for text read as characters, rnn for words", "auto",
                        choices=ModelChoices())
    normalize: str = option("series: z-normalise each dimension with the training set's mean and sd (dataset), "
                            "each series by its own (series), or not at all (none); auto: series when the training "
                            "series' own scales spread over more than SCALE_SPREAD (an order of magnitude), else "
                            "dataset", "auto", choices=("auto", "dataset", "series", "none"))
    rate: int = option("series: read each series at 1/N of its rate, the mean of every N steps (piecewise aggregate "
                       "approximation); 0: auto, the smallest N that brings the median training length to at most "
                       "MAX_SERIES_STEPS", 0, at_least=0, at_most=1_000_000)
    filters: str = option("series, lstm-fcn: filters of each convolution of the fully convolutional branch, "
                          "comma-separated (FCN's are 128,256,128); auto: FCN's when the step budget affords them "
                          "at least MIN_SERIES_PASSES passes over the training file, else half as many (64,128,64), "
                          "a third of the cost a step, trained for about 2.5 times the passes", "auto")
    length_input: str = option("series, lstm-fcn: give the head each series' length (log, standardised) as one more "
                               "input; auto: when the training series' lengths differ (off by default: no gain "
                               "measured on the variable-length development sets)", "off",
                               choices=("auto", "on", "off"))
    stretch: str = option("series: read each series at its own length (off), or stretched by linear interpolation to "
                          "the median length of the training series (on: a gesture made slower or faster reads "
                          "alike); auto: on when the training series' lengths differ", "off",
                          choices=("auto", "on", "off"))
    init_from: str = option("text: a charlm run folder whose embedding and recurrent layers start the classifier "
                            "(ULMFiT, Howard & Ruder 2018); its cell, sizes and vocabulary are taken", "")
    lr_decay: float = option("with --init-from: discriminative learning rates, each layer below the head at the rate "
                             "of the one above divided by this (1: one rate)", 2.6, at_least=1.0)
    unfreeze_every: int = option("with --init-from: gradual unfreezing, the head trains first and one more layer "
                                 "from the top joins every N steps (0: all train from the start)", 0, at_least=0)
    batches: str = option("training batches grouped by length (length: each pads little) or drawn at random "
                          "(random); auto: random for a model with batch norm (LSTM-FCN), whose statistics in "
                          "training need batches like the whole set, else length", "auto",
                          choices=("auto", "length", "random"))
    window: str = option("text: read each example longer than N tokens as a random window of N in training and as "
                         "up to EVAL_WINDOWS windows spread over it when scored (their log-probabilities averaged); "
                         "auto: N such that the step budget pays for TEXT_EPOCHS passes (at least MIN_WINDOW), or "
                         "the whole examples where they fit; off: whole examples", "auto")
    ensemble: int = option("train this many models from different initial weights side by side, each on its own "
                           "loss, and classify with the mean of their log-probabilities", 1, at_least=1, at_most=64)
    text_column: str = option("CSV/TSV/JSONL text column", "text")
    label_column: str = option("CSV/TSV/JSONL label column", "label")


def stratified_split(y: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """A seeded (train, valid) split of ``range(len(y))`` holding out ``fraction`` of each class (at least
    one example of every class with two or more), so a small training file keeps every class on both sides.

    >>> tr, va = stratified_split(torch.tensor([0] * 8 + [1] * 2), 0.25, seed=0)
    >>> sorted(torch.tensor([0] * 8 + [1] * 2)[va].tolist()), len(tr)
    ([0, 0, 1], 7)
    """
    g = torch.Generator().manual_seed(seed + 104729)
    held = []
    for c in torch.unique(y).tolist():
        members = (y == c).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=g)]
        k = min(max(1, round(len(members) * fraction)), len(members) - 1) if len(members) > 1 else 0
        held.append(members[:k])
    valid = torch.cat(held).sort().values if held else torch.zeros(0, dtype=torch.long)
    keep = torch.ones(len(y), dtype=torch.bool)
    keep[valid] = False
    return keep.nonzero().flatten(), valid


def capped_sample(lengths: list[int], max_steps: int, seed: int) -> Tensor:
    """A seeded sample of the indices of ``lengths``, in order, holding at most ``max_steps`` steps (at least one
    example): all of a small set, a random part of a large one.

    >>> capped_sample([10] * 5, 100, seed=0).tolist(), len(capped_sample([10] * 50, 100, seed=0))
    ([0, 1, 2, 3, 4], 10)
    """
    perm = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(seed + 15485863))
    steps = torch.cumsum(torch.as_tensor(lengths)[perm], 0)
    keep = max(1, int((steps <= max_steps).sum()))
    return perm[:keep].sort().values


def held_out_share(y: Tensor, fraction: float = 0.0) -> float:
    """The share of the training examples (labels ``y``) held out to choose the weights: ``fraction`` when the
    user gave one, else ``HELD_OUT`` when that many examples are at least ``MIN_HELD_OUT`` and five a class, else
    0: the whole training file trains and the final weights of the schedule are kept, as the fully convolutional
    networks (Wang et al. 2017) and InceptionTime are trained on the UCR archive.

    >>> held_out_share(torch.arange(104) // 2), held_out_share(torch.arange(2000) % 10)   # 52 classes of 2; 10 of 200
    (0.0, 0.1)
    >>> held_out_share(torch.arange(40) % 2, 0.25)
    0.25
    """
    if fraction:
        return fraction
    classes = len(torch.unique(y))
    return HELD_OUT if HELD_OUT * len(y) >= max(MIN_HELD_OUT, 5 * classes) else 0.0


HELD_OUT = 0.1                   # the share held out for choosing weights, where it is large enough to choose by
MIN_HELD_OUT = 50                # below this many held-out examples an accuracy is coarser than 2 points and its
                                 # sampling noise (sd ~ 0.5 / sqrt(n) = 7 points at 50) exceeds what it chooses between
STATISTICS_STEPS = 100_000      # steps of training data for the batch-norm population statistics and the training
                                 # scores at each validation: a few per cent of a run's cost


class Classify(Task):
    name = "classify"
    gradient_curves = True
    predicts = True
    in_memory = "labelled"
    Config = ClassifyConfig
    primary = "accuracy"
    higher_is_better = True
    model_defaults = {"hidden_size": 128}
    train_defaults = {"steps": 1000, "batch_size": 32, "lr": 2e-3, "eval_every": 100}
    _sample: Tensor | None = None            # training examples that give the batch-norm population statistics
    train_x: list[Tensor] | tuple = ()       # set by ``prepare``; a run opened for evaluation has none

    @property
    def inputs(self):
        """The half that knows the run's data: ``SeriesInputs`` or ``TextInputs``."""
        return INPUTS[self.meta["kind"]]

    # ------------------------------------------------------------------ data
    @classmethod
    def prepare(cls, cfg: ClassifyConfig, model_cfg: RecurrentConfig, data, *, seed: int = 0) -> "Classify":
        if cfg.tokens == "auto":
            cfg = replace(cfg, tokens="char" if cfg.init_from else "word")
        path = data_path(data, cls.name)
        valid_path, test_path = cfg.valid or None, None
        # an archive folder (NAME_TRAIN / NAME_TEST in .ts, .arff, .tsv, .txt), or a text folder holding train/ and
        # test/ (or train.csv and test.csv ...), as `rnnkit data fetch names` writes it
        split = (split_files(path) or labelled_split(path)) if path.is_dir() else None
        if split is not None:
            path, test_file = split
            test_path = str(test_file) if test_file is not None else None
        inputs = inputs_of(path)
        raw_x, raw_y = cls.read_examples(inputs, path, cfg)
        cfg, model_cfg = inputs.resolve(cfg, model_cfg, raw_x, path)
        meta = {"kind": inputs.kind, **cls.target_meta(raw_y, path), "data": str(path), "valid": valid_path,
                "test": test_path}
        meta.update(inputs.describe(cfg, raw_x, path))
        task = cls(cfg, model_cfg, meta, seed=seed)
        x, y = task.encode_all(raw_x, raw_y, str(path))
        meta.update(inputs.shape(cfg, x, meta, seed))      # the convolutions' widths; the length the head reads
        meta["held_out"] = 0.0 if valid_path else cls.held_out(y, cfg.valid_fraction)
        if valid_path:
            task.train_x, task.train_y = x, y
            task.load_eval_data(valid_path)
        elif meta["held_out"]:
            tr, va = cls.split(y, meta["held_out"], seed)
            task.train_x, task.train_y = [x[i] for i in tr], y[tr]
            task.valid_x, task.valid_y = [x[i] for i in va], y[va]
        else:     # too few examples to choose weights on a share of them: train on all, keep the final weights
            task.train_x, task.train_y = x, y
            shown = capped_sample([len(s) for s in x], STATISTICS_STEPS, seed)   # the learning curve's scores
            task.valid_x, task.valid_y = [x[i] for i in shown], y[shown]
        task.keeps_last = not valid_path and not meta["held_out"]
        return task

    # what a classifier adds to the inputs; a regressor (``regress``) gives its own
    @classmethod
    def read_examples(cls, inputs, path: Path, cfg: ClassifyConfig) -> tuple[list, list]:
        """(inputs, targets) of a file: the series or texts and their labels."""
        return inputs.read(path, cfg)

    @staticmethod
    def target_meta(raw_y: list, path: Path) -> dict:
        """What the run records of its targets: the classes, sorted."""
        labels = sorted(set(raw_y))
        if len(labels) < 2:
            raise UserError(f"expected at least two classes in {path}; received {labels}")
        return {"labels": labels}

    @staticmethod
    def held_out(y: Tensor, fraction: float) -> float:
        return held_out_share(y, fraction)

    @staticmethod
    def split(y: Tensor, share: float, seed: int) -> tuple[Tensor, Tensor]:
        """(train, valid) rows: a stratified share of each class held out."""
        return stratified_split(y, share, seed)

    def _read(self, path: Path) -> tuple[list, list]:
        return self.read_examples(self.inputs, path, self.cfg)

    def encode_all(self, raw_x: list, raw_y: list[str], where: str) -> tuple[list[Tensor], Tensor]:
        labels = {l: i for i, l in enumerate(self.meta["labels"])}
        unseen = sorted(set(raw_y) - set(labels))
        if unseen:
            raise UserError(f"expected labels seen in training {self.meta['labels']}; {where} has "
                            f"{len(unseen)} never seen: {unseen[:5]}")
        y = torch.tensor([labels[l] for l in raw_y], dtype=torch.long)
        return self.inputs.encode(self.cfg, self.meta, raw_x, where), y

    def load_eval_data(self, data) -> None:
        path = data_path(data or self.meta.get("valid") or self.meta["data"], self.name)
        self.valid_x, self.valid_y = self.encode_all(*self._read(path), str(path))
        share = self.meta.get("held_out", self.cfg.valid_fraction or HELD_OUT)
        if not data and not self.meta.get("valid") and share:  # the run's own split of its training file
            _, va = self.split(self.valid_y, share, self.seed)
            self.valid_x, self.valid_y = [self.valid_x[i] for i in va], self.valid_y[va]

    def build_model(self) -> nn.Module:
        """The classifier, or with ``--ensemble K`` K of them whose output is the mean of their logits: its softmax
        is that of the mean of their log-probabilities (the normalisers only shift each member's row)."""
        if self.cfg.ensemble == 1:
            return self._one_model()
        return Ensemble([self._one_model() for _ in range(self.cfg.ensemble)])

    def output_size(self) -> int:
        """The head's outputs: one logit a class."""
        return len(self.meta["labels"])

    def _one_model(self) -> nn.Module:
        return self.inputs.model(self.cfg, self.model_cfg, self.meta, self.output_size())

    def diagnose_inputs(self, n: int) -> Tensor:
        return equal_length(self.valid_x, n)

    def initialize(self, model: nn.Module) -> None:
        self.inputs.initialize(model, self.meta)

    def param_groups(self, model: nn.Module) -> list[dict]:
        return self.inputs.param_groups(model, self.cfg, self.meta)

    # ------------------------------------------------------------------ training
    def data_defaults(self, batch_size: int | None = None) -> dict:
        """The inputs' recipe (``SeriesInputs.recipe``, ``TextInputs.recipe``; chosen by measurement, RESULTS.md),
        its number of steps from the data's size (and from ``batch_size`` where the user chose it): each update
        costs the padded steps of its batch, grouped by length, plus ``STEP_OVERHEAD``.

        >>> task = Classify(ClassifyConfig(model="lstm-fcn"), RecurrentConfig(), {"kind": "series"})
        >>> task.train_x, task.train_y = [torch.zeros(100, 1)] * 40, torch.zeros(40)
        >>> task.data_defaults()["steps"]                 # 8e6 / (40 * 100 / 3 padded steps a batch + 550)
        4247
        >>> task.train_x = [torch.zeros(10, 1)] * 40       # short series: FCN's 2000 epochs of 3 batches
        >>> task.data_defaults()["steps"]
        6000
        """
        return self.inputs.recipe(self.cfg, self.meta, [len(x) for x in self.train_x], batch_size, self.seed)

    def train_batch(self, step: int, batch_size: int) -> Batch:
        """Batch ``step`` of seeded epochs grouped by length (``bucketed_batches``), so a batch pads little; or of
        random batches (``--batches random``; auto is resolved by ``prepare``, and stands only in runs recorded
        before there was a choice, which grouped by length)."""
        grouped, W = self.cfg.batches != "random", self.meta.get("window", 0)
        idx = self.bucketed_rows(step, batch_size, len(self.train_y),
                                 lambda: [min(len(x), W or len(x)) if grouped else 0 for x in self.train_x])
        xs = [self.train_x[i] for i in idx]
        if W:                        # a window of each long example, drawn from the seed and the step alone
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
            xs = [random_window(x, W, g) for x in xs]
        x, lengths = pad_sequences(xs)
        return Batch(x, lengths, self.train_y[idx])

    def loss(self, model: nn.Module, batch: Batch, carry: State) -> tuple[Tensor, State, int]:
        # an ensemble's members each learn from their own loss (independently trained models), not the mean's
        if is_ensemble(model):                                           # the model itself or wrapped by DDP
            logits = model(batch.x, batch.lengths, each=True)[0]                          # (K, B, C)
            return sum(F.cross_entropy(z, batch.y) for z in logits), None, len(batch.y)
        logits, _ = model(batch.x, batch.lengths)
        return F.cross_entropy(logits, batch.y), None, len(batch.y)

    @torch.no_grad()
    def logits(self, model: nn.Module, xs: list[Tensor], chunk: int = 256) -> Tensor:
        """The model's outputs (N, C) for inputs ``xs``; an input longer than the run's window is read as up to
        ``EVAL_WINDOWS`` windows spread over it, and their ``window_output``s averaged."""
        W = self.meta.get("window", 0)
        if not W or all(len(x) <= W for x in xs):
            return self._outputs(model, xs, chunk)
        pieces = [spread_windows(x, W, EVAL_WINDOWS) for x in xs]
        owner = torch.tensor([i for i, p in enumerate(pieces) for _ in p])
        z = self.window_output(self._outputs(model, [w for p in pieces for w in p], chunk))     # (windows, C)
        total = z.new_zeros(len(xs), z.shape[-1]).index_add_(0, owner, z)
        return total / torch.bincount(owner, minlength=len(xs)).unsqueeze(1).to(z.dtype)

    @staticmethod
    def window_output(z: Tensor) -> Tensor:
        """What the windows of one input average: their log-probabilities (a geometric mean of probabilities)."""
        return F.log_softmax(z, dim=-1)

    def _outputs(self, model: nn.Module, xs: list[Tensor], chunk: int) -> Tensor:
        model.eval()
        order = sorted(range(len(xs)), key=lambda i: len(xs[i]))        # chunks of similar lengths pad little
        out = torch.empty(0)
        for a in range(0, len(xs), chunk):
            x, lengths = pad_sequences([xs[i] for i in order[a:a + chunk]])
            z = model(x, lengths)[0].cpu()
            if not out.numel():
                out = z.new_empty(len(xs), z.shape[-1])
            out[order[a:a + chunk]] = z
        return out

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Validation scores, after the batch-norm layers (if any) take the training data's population statistics
        (``population_statistics_``), which the saved model then keeps."""
        if self.train_x:          # training (``rnnkit eval`` of a run keeps the statistics its model was saved with)
            if self._sample is None:
                self._sample = capped_sample([len(x) for x in self.train_x], STATISTICS_STEPS, self.seed)
            population_statistics_(model, lambda: self._chunks([self.train_x[i] for i in self._sample], 64))
        return self._scores(model, self.valid_x, self.valid_y)

    @staticmethod
    def _chunks(xs: list[Tensor], size: int):
        """(x, lengths) batches of ``size`` series of similar lengths (sorted), each padded to its longest."""
        order = sorted(range(len(xs)), key=lambda i: len(xs[i]))
        for a in range(0, len(xs), size):
            yield pad_sequences([xs[i] for i in order[a:a + size]])

    def test_metrics(self, model: nn.Module) -> tuple[str, dict[str, float]] | None:
        """The test file of a UCR/UEA folder scored with ``model`` (the selected weights), or None."""
        if not self.meta.get("test"):
            return None
        path = Path(self.meta["test"])
        x, y = self.encode_all(*self._read(path), str(path))
        scores = self._scores(model, x, y)
        self.test_confusion = self.confusion
        return str(path), scores

    def figures(self, run_dir: Path, model: nn.Module) -> list[Path]:
        """``confusion.png``: the confusion matrix of ``model`` (the selected weights) on the test data when there
        is some, else on the validation data; rows the true class, colours each row's shares (as the names ->
        language tutorial the RNN 1 notes end with draws it)."""
        confusion = getattr(self, "test_confusion", None)
        if confusion is None and self.meta.get("test"):
            self.test_metrics(model)
            confusion = self.test_confusion
        if confusion is None:
            if getattr(self, "valid_y", None) is None:          # a run opened from its folder
                self.load_eval_data(None)
            self._scores(model, self.valid_x, self.valid_y)
            confusion = self.confusion
        return [confusion_figure(confusion, self.meta["labels"], run_dir / "confusion.png")]

    def _scores(self, model: nn.Module, xs: list[Tensor], y: Tensor) -> dict[str, float]:
        logits = self.logits(model, xs)
        pred = logits.argmax(-1)
        n = len(self.meta["labels"])
        confusion = torch.zeros(n, n, dtype=torch.long)
        confusion.index_put_((y, pred), torch.ones_like(y), accumulate=True)
        tp = confusion.diag().float()
        precision = tp / confusion.sum(0).clamp(min=1)
        recall = tp / confusion.sum(1).clamp(min=1)
        f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall), torch.zeros(n))
        self.confusion = confusion
        return {"accuracy": (pred == y).float().mean().item(), "macro_f1": f1.mean().item(),
                "loss": F.cross_entropy(logits, y).item()}

    def report(self, metrics: dict) -> list[str]:
        """The confusion matrix (rows: true label, columns: predicted)."""
        labels = self.meta["labels"]
        width = max(8, *(len(l) for l in labels))
        lines = ["confusion (rows true, columns predicted):", " " * width + "".join(f"{l:>{width}}" for l in labels)]
        for l, row in zip(labels, self.confusion.tolist()):
            lines.append(f"{l:>{width}}" + "".join(f"{v:>{width}}" for v in row))
        return lines

    def predict(self, model: nn.Module, text: str) -> list[str]:
        """The label of a text (text runs), or of each case of a series file (.ts, .arff, .tsv) or a ``1,2,3[:4,5,6]`` series."""
        raw = self.inputs.parse(text)
        xs, _ = self.encode_all(raw, [self.meta["labels"][0]] * len(raw), "the input")
        probs = F.softmax(self.logits(model, xs), dim=-1)
        labels = self.meta["labels"]
        return [f"{labels[int(p.argmax())]}\t" + " ".join(f"{l}={v:.3f}" for l, v in zip(labels, p.tolist()))
                for p in probs]
