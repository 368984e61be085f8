"""rnnkit from Python alone: fit, score, cross-validate and export, at sizes that run in well under a minute.

    python examples/python_api.py [FOLDER]       # the run folders and the ONNX file go into FOLDER

Each ``# %%`` cell runs on its own in a notebook (Jupyter, VS Code) in order.
"""
# %% Data: two classes of noisy series, rising and falling, of unequal lengths (T, 1)
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np


def series_data(n: int = 60, seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        label = str(rng.choice(["up", "down"]))
        t = np.linspace(0, 1, int(rng.integers(15, 26)))
        xs.append(((1 if label == "up" else -1) * t + 0.1 * rng.normal(size=t.shape))[:, None])
        ys.append(label)
    return xs, ys


# %% Fit the classify recipe on data in memory, as `rnnkit train classify` does on a file
def fit_and_score(folder: Path):
    import rnnkit

    X, y = series_data()
    run = rnnkit.fit("classify", data=(X, y), run_dir=folder / "updown", hidden_size=8, model="rnn",
                     max_steps=60, batch_size=16, lr=0.02, eval_every=20, seed=0, device="cpu", verbose=False)
    X_new, y_new = series_data(20, seed=1)
    print("validation:", run.metrics["valid"])
    print("new series:", run.evaluate((X_new, y_new)))
    print("predicted:", run.predict(X_new[:5]), "probabilities:", run.predict_proba(X_new[:1]).round(3))
    same = rnnkit.load(folder / "updown")          # the run folder alone rebuilds the model
    assert same.predict(X_new) == run.predict(X_new)
    return run


# %% The same recipe as a scikit-learn estimator: cross-validation in a pipeline
def cross_validate() -> np.ndarray:
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from rnnkit.sklearn import RNNClassifier

    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 12)) + np.linspace(-1, 1, 12) * rng.choice([-1, 1], size=(90, 1))   # (N, T)
    y = X[:, -1] > X[:, 0]
    clf = make_pipeline(StandardScaler(), RNNClassifier(hidden_size=8, model="rnn", max_steps=40, batch_size=16,
                                                        lr=0.02, random_state=0, device="cpu"))
    scores = cross_val_score(clf, X, y, cv=3)
    print("cross-validated accuracy:", scores.round(3))
    return scores


# %% Leave Python: the whole sequence as ONNX, with the labels in its metadata
def export(run, folder: Path) -> Path:
    path = run.export(folder / "updown.onnx")
    print("wrote", path)
    return path


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    run = fit_and_score(folder)
    cross_validate()
    export(run, folder)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="rnnkit-example-")))
