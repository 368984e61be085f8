"""rnnkit's estimators under scikit-learn's own estimator checks, in a Pipeline, cross_val_score and GridSearchCV,
after a pickle round trip, and with the same random_state bit for bit."""
import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_classifiers_train, check_regressors_train, parametrize_with_checks

from rnnkit.sklearn import RNNClassifier, RNNRegressor

pytestmark = pytest.mark.slow

# small and quick: a plain 4-unit LSTM, 30 updates, one validation (the estimator checks fit about 60 times each)
FAST = dict(hidden_size=4, model="rnn", max_steps=30, batch_size=16, lr=0.03, options={"eval_every": 30},
            device="cpu")

# Every check runs, on the FAST configuration; these two are expected to fail there, and pass below on a
# configuration that trains long enough to learn (test_the_training_checks_pass_with_enough_training).
EXPECTED_FAILURES = {
    "check_classifiers_train": "asks for 83% training accuracy on blobs read as series of two steps: 30 updates "
                               "of a 4-unit LSTM do not reach it (the FAST configuration is for the API checks)",
    "check_regressors_train": "asks for R^2 > 0.5 on a target that is one of ten steps of a series: 30 updates "
                              "of a 4-unit LSTM do not reach it (the FAST configuration is for the API checks)",
}


@parametrize_with_checks([RNNClassifier(**FAST), RNNRegressor(**FAST)],
                         expected_failed_checks=lambda estimator: EXPECTED_FAILURES)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.slow
def test_the_training_checks_pass_with_enough_training():
    check_classifiers_train("RNNClassifier", RNNClassifier(hidden_size=8, model="rnn", max_steps=60, batch_size=16,
                                                           lr=0.03, options={"eval_every": 60}, device="cpu"))
    check_regressors_train("RNNRegressor", RNNRegressor(hidden_size=16, cell="gru", model="rnn", max_steps=200,
                                                        batch_size=32, lr=0.05, options={"eval_every": 200},
                                                        device="cpu"))


def _updown(n=90, seed=2):
    """(N, T) series that rise or fall, as a 2D array."""
    rng = np.random.default_rng(seed)
    sign = rng.choice([-1, 1], size=(n, 1))
    return rng.normal(size=(n, 12)) + 2 * np.linspace(-1, 1, 12) * sign, np.where(sign[:, 0] > 0, "up", "down")


def test_in_a_pipeline_cross_validation_and_grid_search():
    X, y = _updown()
    pipe = make_pipeline(StandardScaler(), RNNClassifier(**FAST, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8
    search = GridSearchCV(pipe, {"rnnclassifier__hidden_size": [4, 6]}, cv=2).fit(X, y)
    assert search.best_params_["rnnclassifier__hidden_size"] in (4, 6)
    assert search.predict(X[:3]).tolist() == search.best_estimator_.predict(X[:3]).tolist()


def test_pickle_round_trip_and_the_same_random_state_bit_for_bit(tmp_path):
    X, y = _updown(60)
    clf = RNNClassifier(**FAST, random_state=7).fit(X, y)
    proba = clf.predict_proba(X)
    for again in (pickle.loads(pickle.dumps(clf)), joblib.load(joblib.dump(clf, tmp_path / "clf.joblib")[0])):
        assert again.run_.run_dir is None                     # the weights and config travel, not a folder
        assert np.array_equal(again.predict_proba(X), proba) and (again.predict(X) == clf.predict(X)).all()
    assert np.array_equal(clone(clf).fit(X, y).predict_proba(X), proba)
    assert not np.array_equal(clone(clf).set_params(random_state=8).fit(X, y).predict_proba(X), proba)
    reg = RNNRegressor(**FAST, random_state=3).fit(X, X[:, -1] - X[:, 0])
    assert np.array_equal(pickle.loads(pickle.dumps(reg)).predict(X), reg.predict(X))


def test_texts_series_of_any_length_and_3d_arrays():
    texts = ["a lovely film", "an awful film", "lovely", "awful and bad"] * 10
    labels = np.array([1, 0, 1, 0] * 10)
    clf = RNNClassifier(**{**FAST, "options": {"eval_every": 30, "tokens": "char"}}, random_state=0).fit(texts, labels)
    assert clf.predict(["lovely lovely"]).dtype == labels.dtype and not hasattr(clf, "n_features_in_")
    rng = np.random.default_rng(0)
    ragged = [rng.normal(size=(int(rng.integers(4, 9)), 3)) for _ in range(30)]
    clf = RNNClassifier(**FAST, random_state=0).fit(ragged, ["a", "b", "c"] * 10)
    assert clf.n_features_in_ == 3 and clf.predict(ragged[:4]).shape == (4,)
    cube = np.stack([s[:4] for s in ragged]).transpose(0, 2, 1)                         # (N, D, T)
    assert np.array_equal(clf.predict_proba(cube), clf.predict_proba([s[:4] for s in ragged]))
    with pytest.raises(ValueError, match="X has 2 dimensions per step, but RNNClassifier is expecting 3"):
        clf.predict(cube[:, :2])
    with pytest.raises(ValueError, match="expected series as at fit; received texts"):
        clf.predict(texts)
    reg = RNNRegressor(**FAST, random_state=0).fit(cube, np.arange(30.0))
    assert reg.n_features_in_ == 3 and reg.predict(cube).shape == (30,)


def test_bad_input_is_a_value_error():
    """scikit-learn's own checks of X and y say what they say; rnnkit's are one line."""
    X, y = _updown(40)
    sklearn_says = [(lambda: RNNClassifier(**FAST).fit(X, y[:-1]), "inconsistent numbers of samples"),
                    (lambda: RNNClassifier(**FAST).fit(np.where(X > 2, np.nan, X), y), "Input X contains NaN"),
                    (lambda: RNNRegressor(**FAST).fit(X, np.where(X[:, 0] > 2, np.nan, 1.0)), "Input y contains NaN")]
    fitted = RNNClassifier(**FAST).fit(X, y)
    sklearn_says += [(lambda: fitted.predict(X[:, :5]), "X has 5 features, but RNNClassifier is expecting 12"),
                     (lambda: fitted.predict(X[0]), "Expected 2D array, got 1D array")]
    for call, match in sklearn_says:
        with pytest.raises(ValueError, match=match):
            call()
    rnnkit_says = [(lambda: RNNClassifier(**FAST).fit(X, ["up"] * 40), "at least two classes in y; received 1 class"),
                   (lambda: RNNClassifier(**{**FAST, "options": {"hiden_size": 4}}).fit(X, y), "'hiden_size'"),
                   (lambda: RNNClassifier(**{**FAST, "options": {"hidden_size": 4}}).fit(X, y), "estimator's own"),
                   (lambda: RNNClassifier(**{**FAST, "hidden_size": 0}).fit(X, y), "--hidden-size must be")]
    for call, match in rnnkit_says:
        with pytest.raises(ValueError, match=match) as e:
            call()
        assert "\n" not in str(e.value), str(e.value)
