"""classify: many-to-one sequence classification (Albert's notes' Buzzometer, the RNN 1 notes' names -> language).

Text as CSV / TSV (header with ``text`` and ``label`` columns), JSONL, or a folder with one
subfolder per class, read as characters or words; or numeric sequences in the archives' formats
(``.ts``, UCR 2018 ``.tsv``, UEA ``.arff``; univariate or multivariate, unequal lengths). ``--data`` may
also be a dataset folder holding ``NAME_TRAIN`` and ``NAME_TEST`` files in one of them (or the old UCR
``.txt``): the archive's own split is then used. Model selection
never looks at the test file: validation (early stopping, the best checkpoint) is a stratified share
of the training file, and the test file is scored once, with the selected weights, at the end. The
model reads the sequence (both ways with ``--bidirectional``: Albert's notes joins
the forward run's last output with the backward run's first) and a linear layer gives the classes.
"""
from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from safetensors.torch import load_file

from ..runtime.checkpoint import read_config
from ..data.padding import pad_sequences
from ..data.text import labelled_split, read_labelled
from ..data.series_files import SUFFIXES, is_series_file, read_series, split_files
from ..data.vocab import PAD, UNK, Vocab
from ..errors import UserError
from ..tools.figures import confusion_figure
from ..models import FCN_FILTERS, FCN_KERNELS, LSTMFCN, Ensemble, RecurrentConfig, SequenceModel, is_ensemble, population_statistics_
from ..options import option
from ..state import State
from .base import Batch, Task, data_path, equal_length, padded_cost




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
    model: str = option("rnn (the recurrent stack and --readout) or, for series, lstm-fcn (a fully convolutional "
                        "branch beside it, Karim et al. 2017); auto: lstm-fcn for series, rnn for text", "auto",
                        choices=("auto", "rnn", "lstm-fcn"))
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
    init_from: str = option("text: a charlm run folder whose embedding and recurrent layers start the classifier "
                            "(ULMFiT, Howard & Ruder 2018); its cell, sizes and vocabulary are taken", "")
    lr_decay: float = option("with --init-from: discriminative learning rates, each layer below the head at the rate "
                             "of the one above divided by this (1: one rate)", 2.6, at_least=1.0)
    unfreeze_every: int = option("with --init-from: gradual unfreezing, the head trains first and one more layer "
                                 "from the top joins every N steps (0: all train from the start)", 0, at_least=0)
    ensemble: int = option("train this many models from different initial weights side by side, each on its own "
                           "loss, and classify with the mean of their log-probabilities", 1, at_least=1, at_most=64)
    text_column: str = option("CSV/TSV/JSONL text column", "text")
    label_column: str = option("CSV/TSV/JSONL label column", "label")


def _tokenize(text: str, cfg: ClassifyConfig) -> list[str]:
    if cfg.lowercase:
        text = text.lower()
    tokens = re.findall(r"\w+|[^\w\s]", text) if cfg.tokens == "word" else list(text)
    return tokens[: cfg.max_len] if cfg.max_len else tokens


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


def coarser(s: Tensor, n: int) -> Tensor:
    """A series (T, D) read at 1/n of its rate: the mean of every n steps (the last window may be shorter;
    missing values are left out of a mean), ``ceil(T / n)`` steps.

    >>> coarser(torch.tensor([[1.], [3.], [5.], [float("nan")], [9.]]), 2).flatten().tolist()
    [2.0, 5.0, 9.0]
    """
    if n <= 1:
        return s
    T, D = s.shape
    padded = torch.cat([s, s.new_full((-T % n, D), float("nan"))]).view(-1, n, D)    # (ceil(T/n), n, D)
    return torch.nanmean(padded, dim=1)


def normalization_for(series: list[Tensor]) -> str:
    """``series`` when the training series' own scales (each dimension's sd within a series) spread over more than
    ``SCALE_SPREAD`` between the 10th and 90th percentile of the series, else ``dataset``. One mean and sd for the
    whole set would leave a series a thousand times smaller than another nearly constant (a household's appliances
    drawing microamperes and amperes), so its shape could not be read; where the scales are alike, keeping them
    keeps what the amplitude says.

    >>> g = torch.Generator().manual_seed(0)
    >>> alike = [torch.randn(50, 1, generator=g) * (1 + k % 3) for k in range(30)]
    >>> apart = [torch.randn(50, 1, generator=g) * 10.0 ** (k % 6) for k in range(30)]
    >>> normalization_for(alike), normalization_for(apart)
    ('dataset', 'series')
    """
    sd = torch.stack([torch.nan_to_num(torch.sqrt(torch.nanmean((s - torch.nanmean(s, 0)) ** 2, 0))) for s in series])
    lo, hi = torch.quantile(sd, 0.1, dim=0), torch.quantile(sd, 0.9, dim=0)              # (D,) each
    return "series" if bool((hi > SCALE_SPREAD * lo.clamp(min=1e-12)).any()) else "dataset"


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


def parse_filters(text: str) -> tuple[int, ...]:
    """``--filters`` as a tuple of positive ints.

    >>> parse_filters("64, 128,64")
    (64, 128, 64)
    """
    try:
        filters = tuple(int(v) for v in text.split(","))
    except ValueError:
        filters = ()
    if not filters or min(filters) < 1 or len(filters) > 8:
        raise UserError(f"expected --filters as one to eight positive integers joined by commas, e.g. 128,256,128; "
                        f"received {text!r}")
    return filters


def series_filters(text: str, lengths: list[int], input_size: int, seed: int = 0) -> tuple[int, ...]:
    """The convolutions' filters: ``--filters`` as given, or for auto FCN's own when the budget affords them
    ``MIN_SERIES_PASSES`` passes over series of these ``lengths`` in the recipe's batches, else half as wide.

    >>> series_filters("auto", [100] * 40, 1), series_filters("auto", [3000] * 400, 1), series_filters("8,8", [], 1)
    ((128, 256, 128), (64, 128, 64), (8, 8))
    """
    if text != "auto":
        return parse_filters(text)
    batch = min(SERIES_BATCH, len(lengths))
    updates = affordable_updates(lengths, batch, fcn_step_cost(FCN_FILTERS, input_size), SERIES_STEP_BUDGET, seed)
    return FCN_FILTERS if updates / math.ceil(len(lengths) / batch) >= MIN_SERIES_PASSES else NARROW_FILTERS


def affordable_updates(lengths: list[int], batch: int, per_step: float, budget: float, seed: int = 0) -> int:
    """Updates of ``batch`` examples grouped by length that ``budget`` steps pay for: each costs the padded steps
    of its batch times ``per_step`` (a step's cost relative to the budget's unit) plus ``STEP_OVERHEAD``."""
    return int(budget / (max(padded_cost(lengths, batch, seed), 1) * per_step + STEP_OVERHEAD))


def log_length_statistics(lengths: list[int], when: str) -> list[float] | None:
    """(mean, sd) of the training series' log lengths, which standardise the length the head reads, or None
    when the head reads no length (``when`` off, or auto and every series has one length).

    >>> log_length_statistics([10, 10], "auto") is None, log_length_statistics([10, 10], "on")
    (True, [2.302585092994046, 1.0])
    """
    if when == "off" or (when == "auto" and min(lengths) == max(lengths)):
        return None
    logs = torch.tensor([max(n, 1) for n in lengths], dtype=torch.float64).log()
    sd = logs.std(unbiased=False).item() if len(logs) > 1 else 0.0
    return [logs.mean().item(), sd if sd > 1e-6 else 1.0]


def fcn_step_cost(filters: tuple[int, ...], input_size: int = 1) -> float:
    """What one series step of LSTM-FCN's forward and backward costs relative to the default model's on a
    univariate series: the convolutions' multiply-adds plus a fixed part (the small recurrent branch, the
    normalisations), fitted to times measured on one core (47, 16 and 9 us a step for 128/64/32-wide filters).

    >>> fcn_step_cost(FCN_FILTERS)
    1.0
    >>> round(fcn_step_cost((64, 128, 64)), 2)
    0.35
    """
    def macs(widths, d):
        total = 0
        for w, k in zip(widths, FCN_KERNELS):
            total, d = total + d * w * k, w
        return total
    return (STEP_FIXED_MACS + macs(filters, input_size)) / (STEP_FIXED_MACS + macs(FCN_FILTERS, 1))


def text_inputs(cfg: ClassifyConfig, model_cfg: RecurrentConfig, texts: list[str]):
    """(config, model config, vocabulary) of a text model: a character LM's (``--init-from``), or the texts' own."""
    if cfg.init_from:
        return _from_language_model(cfg, model_cfg)
    vocab = Vocab.build([_tokenize(t, cfg) for t in texts], specials=[PAD, UNK], min_count=cfg.min_count)
    return cfg, model_cfg, vocab.symbols


def series_meta(raw_x: list[Tensor], cfg: ClassifyConfig, path: Path) -> dict:
    """What a series model needs of its training set: dimensions, mean and sd of each, and the rate it reads at."""
    dims = {s.shape[1] for s in raw_x}
    if len(dims) != 1:
        raise UserError(f"expected every series in {path} to have the same dimensions; received {sorted(dims)}")
    stacked = torch.cat(raw_x)
    mean = torch.nanmean(stacked, 0)
    std = torch.sqrt(torch.nanmean((stacked - mean) ** 2, 0))
    return {"input_size": dims.pop(), "mean": mean.tolist(), "std": [s if s > 1e-8 else 1.0 for s in std.tolist()],
            "rate": cfg.rate or math.ceil(statistics.median(len(s) for s in raw_x) / MAX_SERIES_STEPS)}


def convolution_meta(cfg: ClassifyConfig, x: list[Tensor], meta: dict, seed: int) -> dict:
    """LSTM-FCN's data-driven shape (the convolutions' filters, the log-length statistics the head reads) from the
    encoded training series ``x``; nothing for other models."""
    if meta["kind"] != "series" or cfg.model != "lstm-fcn":
        return {}
    lengths = [len(s) for s in x]
    return {"filters": series_filters(cfg.filters, lengths, meta["input_size"], seed),
            "log_length": log_length_statistics(lengths, cfg.length_input)}


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


def _is_series(path: Path) -> bool:
    return path.suffix == ".ts" or is_series_file(path)


def _from_language_model(cfg: ClassifyConfig, model_cfg: RecurrentConfig):
    """The classify config, recurrent config and vocabulary of a classifier started from the charlm run
    ``cfg.init_from``: its cell and sizes, its embedding size and its symbols (then <pad> and <unk>); the
    classifier's own regularisers are kept."""
    run = Path(cfg.init_from).expanduser()
    config = read_config(run)
    if config.get("task") != "charlm" or not (run / "model.safetensors").exists():
        raise UserError(f"expected --init-from a finished charlm run folder (config.json and model.safetensors); "
                        f"{run} is {'a ' + str(config.get('task')) + ' run' if config.get('task') != 'charlm' else 'not finished'}")
    if config["meta"].get("level") != "char" or cfg.tokens != "char":
        raise UserError(f"expected --init-from a character-level charlm run and --tokens char; received a "
                        f"{config['meta'].get('level')}-level run and --tokens {cfg.tokens}")
    if model_cfg.bidirectional:
        raise UserError("expected a left-to-right classifier with --init-from (the language model reads one way); "
                        "received --bidirectional")
    lm = RecurrentConfig(**config["model"])
    kept = {f.name: getattr(model_cfg, f.name) for f in fields(RecurrentConfig) if f.name in REGULARISERS}
    symbols = list(config["meta"]["vocab"])
    vocab = symbols + [s for s in (PAD, UNK) if s not in symbols]
    return (replace(cfg, init_from=str(run), embed_size=config["task_config"]["embed_size"]),
            replace(lm, **kept), vocab)


MAX_SERIES_STEPS = 512          # a long series is read at a coarser rate down to about this many steps (median)
SCALE_SPREAD = 10.0             # series scales further apart than this are normalised each by its own
STATISTICS_STEPS = 100_000      # steps of training data for the batch-norm population statistics and the training
                                 # scores at each validation: a few per cent of a run's cost
HELD_OUT = 0.1                   # the share held out for choosing weights, where it is large enough to choose by
MIN_HELD_OUT = 50                # below this many held-out examples an accuracy is coarser than 2 points and its
                                 # sampling noise (sd ~ 0.5 / sqrt(n) = 7 points at 50) exceeds what it chooses between
SERIES_EPOCHS = 2000             # passes over a series set's training file, as FCN was trained (Wang et al. 2017)
SERIES_STEP_BUDGET = 8_000_000   # series steps a run may cost: 55 us each on one core here (LSTM-FCN's forward and
                                 # backward at batch 14 x 286 steps), so about 5 minutes of 2 cores
SERIES_BATCH = 16                # FCN's batch (Wang et al. 2017)
MIN_SERIES_PASSES = SERIES_EPOCHS // 8   # fewer passes than this stop FCN's convolutions far from converged: on the
                                 # development sets affording 58-152 passes, half-width filters trained ~2.5x longer
                                 # scored higher, on those affording 319-657 lower (RESULTS.md section 4)
NARROW_FILTERS = (64, 128, 64)
STEP_OVERHEAD = 550              # what one update costs beyond its series steps, in series steps (measured)
STEP_FIXED_MACS = 38_000         # the part of a series step's cost that is not the convolutions, in multiply-adds
TEXT_EPOCHS = 3                  # passes over a text set's training examples
TEXT_STEP_BUDGET = 8_000_000     # token steps a run may cost: about 10 minutes of the default text model on 2 cores

REGULARISERS = ("dropout", "input_dropout", "output_dropout", "state_dropout", "variational", "zoneout",
                "embed_dropout")


class Classify(Task):
    name = "classify"
    gradient_curves = True
    predicts = True
    Config = ClassifyConfig
    primary = "accuracy"
    higher_is_better = True
    model_defaults = {"hidden_size": 128}
    train_defaults = {"steps": 1000, "batch_size": 32, "lr": 2e-3, "eval_every": 100}
    _sample: Tensor | None = None            # training examples that give the batch-norm population statistics
    train_x: list[Tensor] | tuple = ()       # set by ``prepare``; a run opened for evaluation has none

    # ------------------------------------------------------------------ data
    @classmethod
    def prepare(cls, cfg: ClassifyConfig, model_cfg: RecurrentConfig, data, *, seed: int = 0) -> "Classify":
        if cfg.tokens not in ("auto", "char", "word"):
            raise UserError(f"--tokens must be auto, char or word; received {cfg.tokens!r}")
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
        kind = "series" if _is_series(path) else "text"
        if kind == "text" and (cfg.model == "lstm-fcn" or cfg.normalize in ("series", "none")):
            raise UserError(f"--model lstm-fcn and --normalize are for series data; {path} holds texts")
        if cfg.model == "auto":
            cfg = replace(cfg, model="lstm-fcn" if kind == "series" else "rnn")
        if cfg.readout == "auto":
            cfg = replace(cfg, readout="max" if kind == "text" else "last")
        raw_x, raw_y = cls._read(path, kind, cfg)
        if kind == "series" and cfg.normalize == "auto":
            cfg = replace(cfg, normalize=normalization_for(raw_x))
        labels = sorted(set(raw_y))
        if len(labels) < 2:
            raise UserError(f"expected at least two classes in {path}; received {labels}")
        meta = {"kind": kind, "labels": labels, "data": str(path), "valid": valid_path, "test": test_path}
        if cfg.init_from:
            if kind != "text":
                raise UserError(f"--init-from starts a text classifier from a language model; {path} holds series")
            if cfg.ensemble > 1:
                raise UserError(f"expected one model with --init-from (it starts from one language model); received "
                                f"--ensemble {cfg.ensemble}")
        if kind == "text":
            cfg, model_cfg, meta["vocab"] = text_inputs(cfg, model_cfg, raw_x)
            meta.update({"init_from": cfg.init_from} if cfg.init_from else {})
        else:
            meta.update(series_meta(raw_x, cfg, path))
        task = cls(cfg, model_cfg, meta, seed=seed)
        x, y = task.encode_all(raw_x, raw_y, str(path))
        meta.update(convolution_meta(cfg, x, meta, seed))
        meta["held_out"] = 0.0 if valid_path else held_out_share(y, cfg.valid_fraction)
        if valid_path:
            task.train_x, task.train_y = x, y
            task.load_eval_data(valid_path)
        elif meta["held_out"]:
            tr, va = stratified_split(y, meta["held_out"], seed)
            task.train_x, task.train_y = [x[i] for i in tr], y[tr]
            task.valid_x, task.valid_y = [x[i] for i in va], y[va]
        else:     # too few examples to choose weights on a share of them: train on all, keep the final weights
            task.train_x, task.train_y = x, y
            shown = capped_sample([len(s) for s in x], STATISTICS_STEPS, seed)   # the learning curve's scores
            task.valid_x, task.valid_y = [x[i] for i in shown], y[shown]
        task.keeps_last = not valid_path and not meta["held_out"]
        return task

    @staticmethod
    def _read(path: Path, kind: str, cfg: ClassifyConfig) -> tuple[list, list[str]]:
        if kind == "series":
            series, labels = read_series(path)
            if cfg.max_len:
                series = [s[: cfg.max_len] for s in series]
            return series, labels
        pairs = read_labelled(path, text_column=cfg.text_column, label_column=cfg.label_column)
        return [t for t, _ in pairs], [l for _, l in pairs]

    def encode_all(self, raw_x: list, raw_y: list[str], where: str) -> tuple[list[Tensor], Tensor]:
        labels = {l: i for i, l in enumerate(self.meta["labels"])}
        unseen = sorted(set(raw_y) - set(labels))
        if unseen:
            raise UserError(f"expected labels seen in training {self.meta['labels']}; {where} has "
                            f"{len(unseen)} never seen: {unseen[:5]}")
        y = torch.tensor([labels[l] for l in raw_y], dtype=torch.long)
        if self.meta["kind"] == "text":
            vocab = Vocab(self.meta["vocab"])
            x = [torch.tensor(vocab.encode(_tokenize(t, self.cfg), unk=UNK) or [vocab.index[PAD]], dtype=torch.long)
                 for t in raw_x]
        else:
            if raw_x and raw_x[0].shape[1] != self.meta["input_size"]:
                raise UserError(f"expected series with {self.meta['input_size']} dimensions in {where}; "
                                f"received {raw_x[0].shape[1]}")
            x = [torch.nan_to_num(coarser(self._normalize(s), self.meta.get("rate", 1))) for s in raw_x]
        return x, y

    def _normalize(self, s: Tensor) -> Tensor:
        """One series (T, D) z-normalised as ``--normalize`` says (a constant dimension is only centred)."""
        if self.cfg.normalize == "none":
            return s
        if self.cfg.normalize == "series":
            mean = torch.nanmean(s, 0)
            std = torch.sqrt(torch.nanmean((s - mean) ** 2, 0))
            return (s - mean) / torch.where(std > 1e-8, std, torch.ones_like(std))
        return (s - torch.tensor(self.meta["mean"])) / torch.tensor(self.meta["std"])

    def load_eval_data(self, data) -> None:
        path = data_path(data or self.meta.get("valid") or self.meta["data"], self.name)
        raw_x, raw_y = self._read(path, self.meta["kind"], self.cfg)
        self.valid_x, self.valid_y = self.encode_all(raw_x, raw_y, str(path))
        share = self.meta.get("held_out", self.cfg.valid_fraction or HELD_OUT)
        if not data and not self.meta.get("valid") and share:  # the run's own split of its training file
            _, va = stratified_split(self.valid_y, share, self.seed)
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

    def _one_model(self) -> SequenceModel:
        n = self.output_size()
        if self.meta["kind"] == "text":
            return SequenceModel(self.model_cfg, vocab_size=len(self.meta["vocab"]), embed_size=self.cfg.embed_size,
                                 output_size=n, readout=self.cfg.readout)
        if self.cfg.model == "lstm-fcn":
            return LSTMFCN(self.model_cfg, input_size=self.meta["input_size"], output_size=n, readout=self.cfg.readout,
                           filters=self.meta.get("filters", FCN_FILTERS), log_length=self.meta.get("log_length"))
        return SequenceModel(self.model_cfg, input_size=self.meta["input_size"], output_size=n,
                             readout=self.cfg.readout)

    def diagnose_inputs(self, n: int) -> Tensor:
        return equal_length(self.valid_x, n)

    def initialize(self, model: SequenceModel) -> None:
        """A new run with ``--init-from``: the language model's embedding rows and recurrent layers, copied."""
        if not self.meta.get("init_from"):
            return
        lm = load_file(str(Path(self.meta["init_from"]) / "model.safetensors"))
        own = model.state_dict()
        with torch.no_grad():
            for name, tensor in lm.items():
                if name.startswith("runner."):
                    own[name].copy_(tensor)
            rows = lm["embedding.weight"]
            own["embedding.weight"][: rows.shape[0]].copy_(rows)

    def param_groups(self, model: SequenceModel) -> list[dict]:
        """ULMFiT's fine-tuning for a classifier started ``--init-from`` a language model: from the head down
        (head, top recurrent layer, ..., embedding), group k trains at ``lr / lr_decay**k`` from step
        ``k * unfreeze_every``; without ``--init-from``, one group."""
        if not self.meta.get("init_from"):
            return [{"params": list(model.parameters())}]
        layers = list(model.runner.layers)
        stack = [[p for n, p in model.named_parameters() if not n.startswith(("runner.", "embedding."))]]
        stack += [list(layer.parameters()) for layer in reversed(layers)] + [list(model.embedding.parameters())]
        return [{"params": params, "lr_factor": self.cfg.lr_decay ** -k, "start_step": k * self.cfg.unfreeze_every}
                for k, params in enumerate(stack)]

    # ------------------------------------------------------------------ training
    def data_defaults(self, batch_size: int | None = None) -> dict:
        """The recipes, chosen by measurement (RESULTS.md), with the number of steps from the data's size (and
        from ``batch_size`` where the user chose it).

        Series: LSTM-FCN with a small recurrent branch (8 units, as Karim et al. 2017) trained as the fully
        convolutional networks are (Wang et al. 2017: Adam at 1e-3, batches of 16), with a cosine decay over
        ``SERIES_EPOCHS`` passes, but at most ``SERIES_STEP_BUDGET`` series steps in all (each update costs the
        padded steps of its batch, grouped by length, plus ``STEP_OVERHEAD``), so a long or large set stays within
        minutes of CPU; about 40 validations a run.
        Text: a bidirectional LSTM (one way when it starts from a language model) with dropout 0.5 before the
        head and embedding dropout 0.1, Adam at 2e-3 in batches of 32 with a cosine decay over ``TEXT_EPOCHS``
        passes, at most ``TEXT_STEP_BUDGET`` token steps; about 8 validations a run.

        >>> task = Classify(ClassifyConfig(), RecurrentConfig(), {"kind": "series"})
        >>> task.train_x, task.train_y = [torch.zeros(100, 1)] * 40, torch.zeros(40)
        >>> task.data_defaults()["steps"]                 # 8e6 / (40 * 100 / 3 padded steps a batch + 550)
        4247
        >>> task.train_x = [torch.zeros(10, 1)] * 40       # short series: FCN's 2000 epochs of 3 batches
        >>> task.data_defaults()["steps"]
        6000
        """
        series = self.meta["kind"] == "series"
        epochs, budget, batch = (SERIES_EPOCHS, SERIES_STEP_BUDGET, SERIES_BATCH) if series else (TEXT_EPOCHS, TEXT_STEP_BUDGET, 32)
        n = len(self.train_y)
        batch = batch_size or min(batch, n)
        # what an update really costs: its batch padded to the longest member of its length bucket
        per_step = fcn_step_cost(tuple(self.meta.get("filters", FCN_FILTERS)), self.meta.get("input_size", 1)) \
            if series and self.cfg.model == "lstm-fcn" else 1.0
        updates = affordable_updates([len(x) for x in self.train_x], batch, per_step, budget, self.seed)
        steps = max(1, min(epochs * math.ceil(n / batch), updates))
        if series:
            small = {"hidden_size": 8} if self.cfg.model == "lstm-fcn" else {}
            return {**small, "steps": steps, "batch_size": batch, "lr": 1e-3, "schedule": "cosine",
                    "eval_every": max(1, steps // 40)}
        text = {"dropout": 0.5, "embed_dropout": 0.1, "steps": steps, "batch_size": batch, "lr": 2e-3,
                "schedule": "cosine", "eval_every": max(1, steps // 8)}
        return text if self.meta.get("init_from") else {**text, "bidirectional": True}

    def train_batch(self, step: int, batch_size: int) -> Batch:
        """Batch ``step`` of seeded epochs grouped by length (``bucketed_batches``), so a batch pads little."""
        idx = self.bucketed_rows(step, batch_size, len(self.train_y), lambda: [len(x) for x in self.train_x])
        x, lengths = pad_sequences([self.train_x[i] for i in idx])
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
        raw_x, raw_y = self._read(path, self.meta["kind"], self.cfg)
        x, y = self.encode_all(raw_x, raw_y, str(path))
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
        if self.meta["kind"] == "text":
            xs, _ = self.encode_all([text], [self.meta["labels"][0]], "the input")
        else:
            xs = self._series_input(text)
        probs = F.softmax(self.logits(model, xs), dim=-1)
        labels = self.meta["labels"]
        return [f"{labels[int(p.argmax())]}\t" + " ".join(f"{l}={v:.3f}" for l, v in zip(labels, p.tolist()))
                for p in probs]

    def _series_input(self, text: str) -> list[Tensor]:
        raw = self._raw_series(text)
        xs, _ = self.encode_all(raw, [self.meta["labels"][0]] * len(raw), "the input")
        return xs

    @staticmethod
    def _raw_series(text: str) -> list[Tensor]:
        """The series of a file (.ts, .arff, .tsv), or one written ``1,2,3`` (dimensions joined by ':')."""
        if Path(text).suffix in SUFFIXES and Path(text).is_file():
            raw, _ = read_series(text)
        else:
            try:
                columns = [[float(v) for v in part.split(",")] for part in text.split(":")]
                raw = [torch.tensor(columns).T.contiguous()]
            except ValueError:
                raise UserError(f"expected a series file (.ts, .arff, .tsv) or a series like 1,2,3 (dimensions joined by ':'); "
                                f"received {text[:40]!r}") from None
        return raw
