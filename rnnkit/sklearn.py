"""scikit-learn estimators over rnnkit's recipes: ``RNNClassifier`` (the classify task) and ``RNNRegressor``
(the regress task), for series and texts, usable in ``Pipeline``, ``cross_val_score`` and ``GridSearchCV``.

``fit(X, y)`` trains as ``rnnkit.fit`` does, in a temporary run folder that is removed once the weights are
in memory. X is a 2D array (N, T) of univariate series (``n_features_in_`` = T, which predictions then
expect), a 3D array (N, D, T) or a list of (T, D) or (T,) arrays of any lengths (``n_features_in_`` = D), or a
list of strings. A constructor argument left None is the recipe's choice, made from the data at ``fit`` (as
``rnnkit train``'s defaults are); ``options`` takes any other ``rnnkit train`` flag by its underscored name.
``random_state`` is the run's seed (None: the command line's default seed, 0): the same seed and data give
the same weights bit for bit. A fitted estimator pickles its weights and configuration, not a folder.

>>> import numpy as np
>>> from rnnkit.sklearn import RNNClassifier
>>> X = np.random.default_rng(0).normal(size=(30, 12))
>>> y = np.where(X[:, :6].mean(1) > 0, "up", "down")
>>> clf = RNNClassifier(hidden_size=4, max_steps=3, options={"eval_every": 3}, random_state=0).fit(X, y)
>>> clf.classes_.tolist(), clf.predict_proba(X).shape, clf.n_features_in_
(['down', 'up'], (30, 2), 12)
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_consistent_length, check_is_fitted, column_or_1d, validate_data

from .api import fit as fit_run
from .errors import DiskFull, UserError

# the constructor arguments that are ``rnnkit train`` flags (the others: options, random_state, device, verbose)
FLAGS = ("hidden_size", "num_layers", "cell", "bidirectional", "dropout", "model", "readout", "max_steps", "max_time",
         "batch_size", "lr")


class _RNNEstimator(BaseEstimator):
    """What the two estimators share. Parameters (None: the recipe's choice at fit):

    hidden_size, num_layers, cell, bidirectional, dropout: the recurrent stack (``--hidden-size`` ...);
    model: ``rnn`` or, for series, ``lstm-fcn``; readout: ``last``, ``mean``, ``max`` or ``attention``;
    max_steps, max_time, batch_size, lr: the training budget and optimiser; options: any other ``rnnkit train``
    flag, by its underscored name (``{"eval_every": 50, "tokens": "char"}``); random_state: the seed (an int, or a
    RandomState a seed is drawn from); device: auto, cpu, cuda[:N] or mps; verbose: the progress bar and lines.
    """

    _task: ClassVar[str]

    def __init__(self, *, hidden_size=None, num_layers=None, cell=None, bidirectional=None, dropout=None, model=None,
                 readout=None, max_steps=None, max_time=None, batch_size=None, lr=None, options=None,
                 random_state=None, device=None, verbose=False):
        self.hidden_size, self.num_layers, self.cell = hidden_size, num_layers, cell
        self.bidirectional, self.dropout, self.model, self.readout = bidirectional, dropout, model, readout
        self.max_steps, self.max_time, self.batch_size, self.lr = max_steps, max_time, batch_size, lr
        self.options, self.random_state, self.device, self.verbose = options, random_state, device, verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # -- inputs --------------------------------------------------------------------------------
    def _examples(self, X, *, reset: bool):
        """X as rnnkit takes it: a list of strings, a 3D array, a list of series, or a checked 2D array (whose
        columns ``n_features_in_`` records at fit and predictions check)."""
        if _texts(X):
            return list(X), "text", None
        if getattr(X, "ndim", None) == 3:
            X = check_array(X, allow_nd=True, dtype="numeric", input_name="X")
            return X, "series", X.shape[1]
        if isinstance(X, (list, tuple)) and X and any(np.ndim(s) == 2 for s in X) or _ragged(X):
            series = [check_array(s, ensure_2d=False, dtype="numeric", ensure_min_samples=1, input_name="X")
                      for s in X]
            dims = series[0].shape[1] if series[0].ndim == 2 else 1
            return series, "series", dims
        return validate_data(self, X, reset=reset, dtype="numeric"), "table", None

    def _fit_examples(self, X, y):
        if y is None:
            raise ValueError(f"This {type(self).__name__} estimator requires y to be passed, but the target y is None.")
        xs, kind, dims = self._examples(X, reset=True)
        if kind != "table":                               # a 2D array's fit sets them; anything else clears them
            for stale in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(stale, None)
            if dims is not None:
                self.n_features_in_ = dims
        self.input_kind_ = kind
        return xs

    def _predict_examples(self, X):
        check_is_fitted(self)
        xs, kind, dims = self._examples(X, reset=False)
        if (kind == "text") != (self.input_kind_ == "text"):
            raise ValueError(f"expected {'texts' if self.input_kind_ == 'text' else 'series'} as at fit; received "
                             f"{'texts' if kind == 'text' else 'series'}")
        expected = getattr(self, "n_features_in_", None)
        if self.input_kind_ != "table" and dims is not None and expected is not None and dims != expected:
            raise ValueError(f"X has {dims} dimensions per step, but {type(self).__name__} is expecting {expected} "
                             f"as at fit")
        return xs

    # -- training --------------------------------------------------------------------------------
    def _run_options(self) -> dict:
        extra = dict(self.options or {})
        clash = sorted(set(extra) & {*FLAGS, "seed", "device", "tensorboard"})
        if clash:
            raise ValueError(f"expected {clash} as the estimator's own parameters (the seed is random_state), not in "
                             f"options")
        given = {name: getattr(self, name) for name in FLAGS}
        seed = self.random_state
        if seed is not None and not isinstance(seed, (int, np.integer)):
            seed = int(check_random_state(seed).randint(2 ** 31 - 1))     # a RandomState: a seed drawn from it
        return {**extra, **given, "seed": None if seed is None else int(seed), "device": self.device,
                "tensorboard": False}

    def _train(self, xs, targets) -> None:
        with _value_errors():
            run = fit_run(self._task, data=(xs, targets), verbose=self.verbose, figures=False, **self._run_options())
            self.run_ = run
            run.close()                  # the weights are in memory: the temporary run folder goes


class RNNClassifier(ClassifierMixin, _RNNEstimator):
    """rnnkit's ``classify`` recipe as a scikit-learn classifier (see the module docstring); ``classes_``, and
    ``predict_proba`` with one column per class in that order."""

    _task = "classify"

    def fit(self, X, y):
        xs = self._fit_examples(X, y)
        y = _labels(y, xs)
        check_classification_targets(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"expected at least two classes in y; received 1 class: {self.classes_.tolist()}")
        self._train(xs, index)
        # the run orders its classes by their names ("0", "1", "10", "2", ...): column j holds class order[j]
        self.columns_ = np.argsort(np.asarray(self.run_.classes))
        return self

    def predict_proba(self, X) -> np.ndarray:
        xs = self._predict_examples(X)
        with _value_errors():
            return self.run_.predict_proba(xs)[:, self.columns_]

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)                    # first: an unfitted estimator says so
        return self.classes_[proba.argmax(1)]


class RNNRegressor(RegressorMixin, _RNNEstimator):
    """rnnkit's ``regress`` recipe (many-to-one regression: the classify task's readers and models with a
    regression head) as a scikit-learn regressor (see the module docstring)."""

    _task = "regress"

    def fit(self, X, y):
        xs = self._fit_examples(X, y)
        y = check_array(column_or_1d(y, warn=True), ensure_2d=False, dtype="numeric", input_name="y")
        check_consistent_length(xs, y)
        self._train(xs, y.astype(np.float64))
        return self

    def predict(self, X) -> np.ndarray:
        xs = self._predict_examples(X)
        with _value_errors():
            return self.run_.predict(xs)


def _texts(X) -> bool:
    """A list (or 1D array) of strings: texts."""
    if isinstance(X, np.ndarray):
        return X.ndim == 1 and X.size > 0 and all(isinstance(t, str) for t in X)
    return isinstance(X, (list, tuple)) and len(X) > 0 and all(isinstance(t, str) for t in X)


def _ragged(X) -> bool:
    """A list of sequences of different lengths: series of any lengths, not a 2D array."""
    return isinstance(X, (list, tuple)) and len({np.shape(s)[0] if np.ndim(s) else -1 for s in X}) > 1


def _labels(y, xs) -> np.ndarray:
    """The labels, one per example, as sklearn's classifiers check them (a column vector warns and is flattened;
    NaN is refused)."""
    y = check_array(column_or_1d(y, warn=True), ensure_2d=False, dtype=None, input_name="y")
    check_consistent_length(xs, y)
    return y


class _value_errors:
    """rnnkit's one-line errors about the data or the settings as the ValueError scikit-learn expects; a full disk
    stays a ``DiskFull``."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if isinstance(error, UserError) and not isinstance(error, DiskFull):
            raise ValueError(str(error)) from None
        return False
