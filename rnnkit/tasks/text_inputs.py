"""Texts as a classifier's or a regressor's input: tokens (characters or words), a vocabulary, the recurrent model
with an embedding, and the text recipe; a model may start from a character language model (``lm_transfer``).

Texts come as CSV / TSV (a header naming the text and label columns), JSONL, or a folder with one subfolder (or one
``<Label>.txt``) per class. Albert's notes' Buzzometer reads a text both ways and joins the forward run's last output
with the backward run's first; the default here reads both ways and takes the maximum over the steps.
"""
from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor, nn

from ..data.text import read_labelled
from ..data.vocab import PAD, UNK, Vocab
from ..data.windows import window_length
from ..errors import UserError
from ..models import LSTMCNN, RecurrentConfig, SequenceModel
from ..models.families import SERIES_FAMILIES, TEXT_FAMILIES, TextFamily, register_text_family
from .base import affordable_updates
from .lm_transfer import copy_language_model_, fine_tuning_groups, language_model

TEXT_EPOCHS = 3                  # passes over a text set's training examples
TEXT_STEP_BUDGET = 8_000_000     # token steps a run may cost: about 10 minutes of the default text model on 2 cores


# forward and backward of a batch of 32 texts of 875 characters, one core, against the bidirectional LSTM 128 alone:
# 1.95 (1.58 for 30 words of a 20,000-word vocabulary, whose embedding gradient both share)
LSTM_CNN_STEP_COST = 1.9
register_text_family("lstm-cnn", TextFamily(LSTMCNN, LSTM_CNN_STEP_COST))


def step_cost(cfg) -> float:
    """What a token step of ``--model`` costs in the text budget's unit (the recurrent model's step)."""
    family = TEXT_FAMILIES.get(cfg.model)
    return family.step_cost if family is not None else 1.0


def tokenize(text: str, cfg) -> list[str]:
    """A text's tokens: characters or words and punctuation (``cfg.tokens``), lowercased first if ``cfg.lowercase``,
    at most ``cfg.max_len`` of them (0: all).

    >>> from types import SimpleNamespace as S
    >>> tokenize("Hi, there!", S(lowercase=True, tokens="word", max_len=0))
    ['hi', ',', 'there', '!']
    """
    if cfg.lowercase:
        text = text.lower()
    tokens = re.findall(r"\w+|[^\w\s]", text) if cfg.tokens == "word" else list(text)
    return tokens[: cfg.max_len] if cfg.max_len else tokens


class TextInputs:
    """What a many-to-one task does with texts: read, describe (``meta``: the vocabulary), encode, model, recipe,
    and the start from a language model."""

    kind: ClassVar[str] = "text"

    @staticmethod
    def reads(path: Path) -> bool:
        return True

    @staticmethod
    def resolve(cfg, model_cfg: RecurrentConfig, raw_x: list[str], path: Path):
        """(config, model config) with the choices auto leaves to texts made (the maximum over the steps; the
        recurrent model for words, LSTM-CNN for characters, whose convolutions read the character n-grams that
        carry a text's class: RESULTS.md section 11), or a language model's cell and sizes with ``--init-from``."""
        if cfg.model in SERIES_FAMILIES or cfg.normalize in ("series", "none"):
            raise UserError(f"--model {cfg.model if cfg.model in SERIES_FAMILIES else 'lstm-fcn'} and --normalize "
                            f"are for series data; {path} holds texts")
        chars = cfg.tokens == "char" and not cfg.init_from           # a language model's start is recurrent only
        auto = {"model": "lstm-cnn" if chars else "rnn", "readout": "max", "batches": "length"}
        cfg = replace(cfg, **{k: v for k, v in auto.items() if getattr(cfg, k) == "auto"})
        if cfg.init_from:
            if getattr(cfg, "ensemble", 1) > 1:
                raise UserError(f"expected one model with --init-from (it starts from one language model); received "
                                f"--ensemble {cfg.ensemble}")
            cfg, model_cfg, _ = language_model(cfg, model_cfg)
        return cfg, model_cfg

    @staticmethod
    def read(path: Path, cfg) -> tuple[list[str], list[str]]:
        pairs = read_labelled(path, text_column=cfg.text_column, label_column=cfg.label_column)
        return [t for t, _ in pairs], [l for _, l in pairs]

    @staticmethod
    def describe(cfg, raw_x: list[str], path: Path) -> dict:
        """The vocabulary: a language model's symbols (``--init-from``), or the training texts' own tokens seen at
        least ``--min-count`` times, after <pad> and <unk>."""
        if cfg.init_from:
            _, _, symbols = language_model(cfg, RecurrentConfig())
            return {"vocab": symbols, "init_from": cfg.init_from}
        vocab = Vocab.build([tokenize(t, cfg) for t in raw_x], specials=[PAD, UNK], min_count=cfg.min_count)
        return {"vocab": vocab.symbols}

    @staticmethod
    def shape(cfg, x: list[Tensor], meta: dict, seed: int) -> dict:
        """The window long texts are read in (``--window``; 0: whole texts): auto, the one that lets
        ``TEXT_STEP_BUDGET`` pay for ``TEXT_EPOCHS`` passes over the training texts (``window_length``)."""
        if cfg.window == "off":
            return {"window": 0}
        if cfg.window == "auto":
            return {"window": window_length([len(t) for t in x], TEXT_STEP_BUDGET / step_cost(cfg), TEXT_EPOCHS)}
        if not cfg.window.isdigit() or int(cfg.window) < 1:
            raise UserError(f"expected --window as auto, off or a number of tokens of at least 1; received "
                            f"{cfg.window!r}")
        return {"window": int(cfg.window)}

    @staticmethod
    def encode(cfg, meta: dict, raw_x: list[str], where: str) -> list[Tensor]:
        """Each text's token ids (an empty text: one <pad>)."""
        vocab = Vocab(meta["vocab"])
        return [torch.tensor(vocab.encode(tokenize(t, cfg), unk=UNK) or [vocab.index[PAD]], dtype=torch.long)
                for t in raw_x]

    @staticmethod
    def model(cfg, model_cfg: RecurrentConfig, meta: dict, output_size: int) -> nn.Module:
        family = TEXT_FAMILIES.get(cfg.model)
        build = family.model if family is not None else SequenceModel
        return build(model_cfg, vocab_size=len(meta["vocab"]), embed_size=cfg.embed_size, output_size=output_size,
                     readout=cfg.readout)

    @staticmethod
    def recipe(cfg, meta: dict, lengths: list[int], batch_size: int | None, seed: int) -> dict:
        """A bidirectional LSTM (one way when it starts from a language model) with dropout 0.5 before the head and
        embedding dropout 0.1, Adam at 2e-3 in batches of 32 with a cosine decay over ``TEXT_EPOCHS`` passes, at
        most ``TEXT_STEP_BUDGET`` token steps (each counted at ``step_cost``: an LSTM-CNN step costs 1.9 of the LSTM's);
        about 8 validations a run."""
        batch = batch_size or min(32, len(lengths))
        lengths = [min(n, meta.get("window") or n) for n in lengths]      # what an update reads of each text
        updates = affordable_updates(lengths, batch, step_cost(cfg), TEXT_STEP_BUDGET, seed, cfg.batches != "random")
        steps = max(1, min(TEXT_EPOCHS * math.ceil(len(lengths) / batch), updates))
        text = {"dropout": 0.5, "embed_dropout": 0.1, "steps": steps, "batch_size": batch, "lr": 2e-3,
                "schedule": "cosine", "eval_every": max(1, steps // 8)}
        return text if meta.get("init_from") else {**text, "bidirectional": True}

    @staticmethod
    def parse(text: str) -> list[str]:
        """The inputs ``rnnkit predict`` reads from its argument: the text itself."""
        return [text]

    @staticmethod
    def initialize(model: nn.Module, meta: dict) -> None:
        """A new run with ``--init-from``: the language model's embedding rows and recurrent layers, copied."""
        if meta.get("init_from"):
            copy_language_model_(model, meta["init_from"])

    @staticmethod
    def param_groups(model: nn.Module, cfg, meta: dict) -> list[dict]:
        """ULMFiT's discriminative rates and gradual unfreezing with ``--init-from``; otherwise one group."""
        if not meta.get("init_from"):
            return [{"params": list(model.parameters())}]
        return fine_tuning_groups(model, cfg.lr_decay, cfg.unfreeze_every)
