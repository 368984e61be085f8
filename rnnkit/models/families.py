"""The models a classifier or regressor can be (``--model``) beside the recurrent one: for series, a recurrent branch
beside a convolutional one, each family a model class, what a step of it costs and how wide its convolutions are;
for texts, a model class built on the token embeddings. A family added elsewhere (a plug-in) registers itself
here, and ``--model NAME`` builds it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn


@dataclass(frozen=True)
class SeriesFamily:
    """``model(rnn, input_size=, output_size=, readout=, filters=, log_length=)`` builds it; ``step_cost(filters,
    input_size)`` is what one series step of its forward and backward costs relative to LSTM-FCN's on a univariate
    series (the step budget's unit); ``filters(text, lengths, input_size, seed, grouped)`` gives its convolutions'
    filters from ``--filters`` and the training series' lengths."""
    model: Callable[..., nn.Module]
    step_cost: Callable[[tuple, int], float]
    filters: Callable[[str, list, int, int, bool], tuple]


SERIES_FAMILIES: dict[str, SeriesFamily] = {}


def register_series_family(name: str, family: SeriesFamily) -> SeriesFamily:
    """Make ``--model name`` build ``family`` for series data."""
    SERIES_FAMILIES[name] = family
    return family


@dataclass(frozen=True)
class TextFamily:
    """``model(rnn, vocab_size=, embed_size=, output_size=, readout=)`` builds it; ``step_cost`` is what one token
    step of its forward and backward costs relative to the recurrent text model's (the text budget's unit)."""
    model: Callable[..., nn.Module]
    step_cost: float = 1.0


# the text families beside the recurrent model itself (``rnn``, SequenceModel, which is not one)
TEXT_FAMILIES: dict[str, TextFamily] = {}


def register_text_family(name: str, family: TextFamily) -> TextFamily:
    """Make ``--model name`` build ``family`` for text data."""
    TEXT_FAMILIES[name] = family
    return family


class ModelChoices:
    """The values ``--model`` takes: auto, rnn and every registered series and text family, as they are when asked.

    >>> "rnn" in ModelChoices(), "no-such-model" in ModelChoices()
    (True, False)
    """

    fixed = ("auto", "rnn")

    def __contains__(self, value) -> bool:
        return value in self.fixed or value in SERIES_FAMILIES or value in TEXT_FAMILIES

    def __iter__(self):
        return iter((*self.fixed, *SERIES_FAMILIES, *TEXT_FAMILIES))
