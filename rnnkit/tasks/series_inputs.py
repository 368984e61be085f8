"""Numeric series as a classifier's or a regressor's input: the archives' files, z-normalisation, a coarser rate for
long series, LSTM-FCN with widths the step budget affords, and the series recipe.

A series is a (T, D) tensor of T steps of D dimensions (``.ts``, UCR 2018 ``.tsv``, UEA ``.arff`` or the old UCR
``.txt``; unequal lengths, NaN for a missing value). The recipe trains as the fully convolutional networks were
trained on the UCR archive (Wang et al. 2017, "Time series classification from scratch with deep neural networks"):
Adam at 1e-3, batches of 16, up to 2,000 passes, within a budget of series steps so a long or large set stays within
minutes of CPU.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.series_files import SUFFIXES, is_series_file, read_series
from ..errors import UserError
from ..models import FCN_FILTERS, FCN_KERNELS, LSTMFCN, RecurrentConfig, SequenceModel
from ..models.families import SERIES_FAMILIES, TEXT_FAMILIES, SeriesFamily, register_series_family
from ..models.inception import INCEPTION_FILTERS, LSTMInception
from .base import affordable_updates

MAX_SERIES_STEPS = 512          # a long series is read at a coarser rate down to about this many steps (median)
SCALE_SPREAD = 10.0             # series scales further apart than this are normalised each by its own
SERIES_EPOCHS = 2000             # passes over a series set's training file, as FCN was trained (Wang et al. 2017)
SERIES_STEP_BUDGET = 8_000_000   # series steps a run may cost: 55 us each on one core here (LSTM-FCN's forward and
                                 # backward at batch 14 x 286 steps), so about 5 minutes of 2 cores
SERIES_BATCH = 16                # FCN's batch (Wang et al. 2017)
MIN_SERIES_PASSES = SERIES_EPOCHS // 8   # fewer passes than this stop FCN's convolutions far from converged: on the
                                 # development sets affording 58-152 passes, half-width filters trained ~2.5x longer
                                 # scored higher, on those affording 319-657 lower (RESULTS.md section 4)
NARROW_FILTERS = (64, 128, 64)
STEP_FIXED_MACS = 38_000         # the part of a series step's cost that is not the convolutions, in multiply-adds
INCEPTION_STEP_COST = 3.8        # a step of LSTM-Inception against one of LSTM-FCN (127 and 33 us on one core, measured
                                 # at 16 x 286 x 1)


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


def series_filters(text: str, lengths: list[int], input_size: int, seed: int = 0,
                   grouped: bool = False) -> tuple[int, ...]:
    """The convolutions' filters: ``--filters`` as given, or for auto FCN's own when the budget affords them
    ``MIN_SERIES_PASSES`` passes over series of these ``lengths`` in the recipe's batches (``grouped`` by length, or
    random), else half as wide.

    >>> series_filters("auto", [100] * 40, 1), series_filters("auto", [3000] * 400, 1), series_filters("8,8", [], 1)
    ((128, 256, 128), (64, 128, 64), (8, 8))
    """
    if text != "auto":
        return parse_filters(text)
    batch = min(SERIES_BATCH, len(lengths))
    updates = affordable_updates(lengths, batch, fcn_step_cost(FCN_FILTERS, input_size), SERIES_STEP_BUDGET, seed,
                                 grouped)
    return FCN_FILTERS if updates / math.ceil(len(lengths) / batch) >= MIN_SERIES_PASSES else NARROW_FILTERS


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


def stretched(s: Tensor, T: int) -> Tensor:
    """A series (T0, D) resampled to T steps by linear interpolation, its first and last steps kept (uniform
    scaling: a gesture made at another speed reads alike).

    >>> stretched(torch.tensor([[0.], [2.]]), 3).flatten().tolist()
    [0.0, 1.0, 2.0]
    """
    if len(s) == T:
        return s
    if len(s) == 1:
        return s.expand(T, -1).clone()
    return F.interpolate(s.T[None], size=T, mode="linear", align_corners=True)[0].T.contiguous()


def inception_filters(text: str, lengths: list[int], input_size: int, seed: int = 0, grouped: bool = False):
    """LSTM-Inception's filters a path: ``--filters`` (one number) as given, or the paper's 32 for auto.

    >>> inception_filters("auto", [], 1), inception_filters("16", [], 1)
    ((32,), (16,))
    """
    if text == "auto":
        return (INCEPTION_FILTERS,)
    filters = parse_filters(text)
    if len(filters) != 1:
        raise UserError(f"expected --filters as one number (each path's filters) with --model lstm-inception; "
                        f"received {text!r}")
    return filters


register_series_family("lstm-fcn", SeriesFamily(LSTMFCN, fcn_step_cost, series_filters))
register_series_family("lstm-inception", SeriesFamily(LSTMInception, lambda filters, d: INCEPTION_STEP_COST
                                                      * (filters[0] / INCEPTION_FILTERS) ** 2, inception_filters))


def parse_series(text: str) -> list[Tensor]:
    """The series of a file (.ts, .arff, .tsv), or one written ``1,2,3`` (dimensions joined by ':').

    >>> parse_series("1,2,3:4,5,6")[0].tolist()
    [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    """
    if Path(text).suffix in SUFFIXES and Path(text).is_file():
        raw, _ = read_series(text)
        return raw
    try:
        columns = [[float(v) for v in part.split(",")] for part in text.split(":")]
        return [torch.tensor(columns).T.contiguous()]
    except ValueError:
        raise UserError(f"expected a series file (.ts, .arff, .tsv) or a series like 1,2,3 (dimensions joined by ':'); "
                        f"received {text[:40]!r}") from None


class SeriesInputs:
    """What a many-to-one task does with numeric series: read, describe (``meta``), encode, model and recipe."""

    kind: ClassVar[str] = "series"

    @staticmethod
    def reads(path: Path) -> bool:
        """Whether ``path`` is a series file (by suffix and, for ``.txt``, by content)."""
        return path.suffix == ".ts" or is_series_file(path)

    @staticmethod
    def resolve(cfg, model_cfg: RecurrentConfig, raw_x: list[Tensor], path: Path):
        """(config, model config) with the choices auto leaves to series data made (LSTM-FCN, the last step's
        readout, the normalisation the scales call for)."""
        if cfg.init_from:
            raise UserError(f"--init-from starts a text model from a language model; {path} holds series")
        if cfg.model in TEXT_FAMILIES:
            raise UserError(f"--model {cfg.model} is for text data; {path} holds series")
        cfg = replace(cfg, **{k: v for k, v in {"model": "lstm-fcn", "readout": "last"}.items()
                              if getattr(cfg, k) == "auto"})
        if cfg.normalize == "auto":
            cfg = replace(cfg, normalize=normalization_for(raw_x))
        if cfg.batches == "auto":
            # batch norm's statistics in training are a batch's: batches of one length are, where length tells the
            # classes apart, batches of one class, the same few every pass on a small set (RESULTS.md section 4)
            cfg = replace(cfg, batches="random" if cfg.model in SERIES_FAMILIES else "length")
        return cfg, model_cfg

    @staticmethod
    def read(path: Path, cfg) -> tuple[list[Tensor], list[str]]:
        series, labels = read_series(path)
        return ([s[: cfg.max_len] for s in series] if cfg.max_len else series), labels

    @staticmethod
    def describe(cfg, raw_x: list[Tensor], path: Path) -> dict:
        """What a series model needs of its training set: dimensions, mean and sd of each, and the rate it reads at."""
        dims = {s.shape[1] for s in raw_x}
        if len(dims) != 1:
            raise UserError(f"expected every series in {path} to have the same dimensions; received {sorted(dims)}")
        stacked = torch.cat(raw_x)
        mean = torch.nanmean(stacked, 0)
        std = torch.sqrt(torch.nanmean((stacked - mean) ** 2, 0))
        lengths = [len(s) for s in raw_x]
        rate = cfg.rate or math.ceil(statistics.median(lengths) / MAX_SERIES_STEPS)
        stretched = cfg.stretch == "on" or (cfg.stretch == "auto" and min(lengths) != max(lengths))
        return {"input_size": dims.pop(), "mean": mean.tolist(), "std": [s if s > 1e-8 else 1.0 for s in std.tolist()],
                "rate": rate, "stretch_to": math.ceil(statistics.median(lengths) / rate) if stretched else None}

    @staticmethod
    def shape(cfg, x: list[Tensor], meta: dict, seed: int) -> dict:
        """LSTM-FCN's data-driven shape (the convolutions' filters, the log-length statistics the head reads) from the
        encoded training series ``x``; nothing for other models."""
        family = SERIES_FAMILIES.get(cfg.model)
        if family is None:
            return {}
        lengths = [len(s) for s in x]
        return {"filters": family.filters(cfg.filters, lengths, meta["input_size"], seed, cfg.batches == "length"),
                "log_length": log_length_statistics(lengths, cfg.length_input)}

    @staticmethod
    def encode(cfg, meta: dict, raw_x: list[Tensor], where: str) -> list[Tensor]:
        """Each series (T, D) z-normalised as ``--normalize`` says and read at the run's rate, missing values 0."""
        if raw_x and raw_x[0].shape[1] != meta["input_size"]:
            raise UserError(f"expected series with {meta['input_size']} dimensions in {where}; "
                            f"received {raw_x[0].shape[1]}")
        x = [torch.nan_to_num(coarser(_normalized(s, cfg.normalize, meta), meta.get("rate", 1))) for s in raw_x]
        return [stretched(s, meta["stretch_to"]) for s in x] if meta.get("stretch_to") else x

    @staticmethod
    def model(cfg, model_cfg: RecurrentConfig, meta: dict, output_size: int) -> nn.Module:
        family = SERIES_FAMILIES.get(cfg.model)
        if family is not None:
            return family.model(model_cfg, input_size=meta["input_size"], output_size=output_size, readout=cfg.readout,
                                filters=meta.get("filters", FCN_FILTERS), log_length=meta.get("log_length"))
        return SequenceModel(model_cfg, input_size=meta["input_size"], output_size=output_size, readout=cfg.readout)

    @staticmethod
    def recipe(cfg, meta: dict, lengths: list[int], batch_size: int | None, seed: int) -> dict:
        """LSTM-FCN with a small recurrent branch (8 units, as Karim et al. 2017) trained as the fully convolutional
        networks are (Adam at 1e-3, batches of 16), with a cosine decay over ``SERIES_EPOCHS`` passes, but at most
        ``SERIES_STEP_BUDGET`` series steps in all; about 40 validations a run."""
        batch = batch_size or min(SERIES_BATCH, len(lengths))
        family = SERIES_FAMILIES.get(cfg.model)
        per_step = family.step_cost(tuple(meta.get("filters", FCN_FILTERS)), meta.get("input_size", 1)) \
            if family is not None else 1.0
        updates = affordable_updates(lengths, batch, per_step, SERIES_STEP_BUDGET, seed, cfg.batches == "length")
        steps = max(1, min(SERIES_EPOCHS * math.ceil(len(lengths) / batch), updates))
        small = {"hidden_size": 8} if family is not None else {}
        return {**small, "steps": steps, "batch_size": batch, "lr": 1e-3, "schedule": "cosine",
                "eval_every": max(1, steps // 40)}

    @staticmethod
    def parse(text: str) -> list[Tensor]:
        """The inputs ``rnnkit predict`` reads from its argument."""
        return parse_series(text)

    @staticmethod
    def initialize(model: nn.Module, meta: dict) -> None:
        """Nothing: a series model starts from its own initialisation."""

    @staticmethod
    def param_groups(model: nn.Module, cfg, meta: dict) -> list[dict]:
        return [{"params": list(model.parameters())}]


def _normalized(s: Tensor, how: str, meta: dict) -> Tensor:
    """One series (T, D) z-normalised as ``how`` says (a constant dimension is only centred)."""
    if how == "none":
        return s
    if how == "series":
        mean = torch.nanmean(s, 0)
        std = torch.sqrt(torch.nanmean((s - mean) ** 2, 0))
        return (s - mean) / torch.where(std > 1e-8, std, torch.ones_like(std))
    return (s - torch.tensor(meta["mean"])) / torch.tensor(meta["std"])
