"""Time-series classification on the UCR/UEA suite: rnnkit's defaults against MiniRocket and published figures.

Every dataset folder of the suite (``<cache>/ucr/suite.json``; ``--datasets a,b`` picks some) is run on the
archive's own train/test split (split 0) and on ``--resamples R`` (default 3) stratified resamples of train and
test pooled (splits 1..R), each keeping the archive's train and test sizes and its per-class train counts, drawn
with the split number as seed: the protocol of the UCR/UEA bake-off (Bagnall et al. 2017, "The great time series
classification bake off", DMKD 31), where resample 0 is the archive's split. Resampled splits are written as
``.ts`` files (``NAME/NAME_TRAIN.ts``, ``NAME/NAME_TEST.ts``) in a temporary folder and given to the CLI as a
folder, so each run is the command a user types:

    python -m rnnkit train classify --data FOLDER --run TMP --seed S [candidate flags]

with S the split number. Model selection inside a run never looks at the test file (a stratified validation
share of the training file where it is large enough, else the final weights of the schedule: README); the test
file is scored once, at the end (test_metrics.json).

MiniRocket (aeon's ``MiniRocketClassifier``, default settings, ``random_state`` = S) is fitted on the very same
split files, in its own process (``--jobs`` > 1: one thread, like each rnnkit run; ``--jobs 1``: every thread).
aeon is a benchmark-only dependency (``pip install aeon``, or ``pip install --target DIR aeon`` and
``UCR_PEERS_PATH=DIR``, which only the MiniRocket processes see: aeon's numba may pin another numpy than
rnnkit's); without it the MiniRocket column is left out.
MiniRocket takes equal-length series without missing values: aeon's MiniRocketClassifier declares no
unequal-length capability, so a missing value (NaN) is filled from the last value before it (the first value
after it at the start of a series), and a series shorter than the longest of the problem (train and test) is
padded at the end by repeating its last value. rnnkit gets the files as they are. Before the runs, one small
untimed MiniRocket fit compiles (and caches) aeon's numba functions, so no timed run pays for compiling.

Published figures beside them, each from the source named at its entry in PUBLISHED: FCN and ResNet (Ismail
Fawaz et al. 2019, "Deep learning for time series classification: a review", DMKD 33), InceptionTime (Ismail
Fawaz et al. 2020, DMKD 34) and 1-NN DTW with the learned warping window (the UCR archive's DataSummary.csv),
all on the archive's own split. A cell is empty where no figure was found.

Reported per dataset: rnnkit mean ± sd over the splits and its archive-split figure, MiniRocket mean ± sd over
the same splits, the published figures, the median wall seconds of an rnnkit run and of a MiniRocket run
(whole process: start, data loading, fit, test). Summary: wins / ties (within 1 point) / losses of rnnkit
against each peer (MiniRocket: mean over the same splits; published peers: rnnkit's archive-split figure
against theirs), the mean rank among {rnnkit, MiniRocket, FCN, ResNet, InceptionTime} on the archive split
over sets where all five exist, the mean gap to MiniRocket, the sets more than 5 points under MiniRocket, the
sets under 1-NN DTW, and median wall seconds.

Each finished run (dataset, split, candidate; or MiniRocket) is appended to ``--out-partial`` (JSON lines)
as it finishes, and a rerun skips those already there, so an interrupted suite resumes.

    python benchmarks/results/ucr.py --jobs 2                        # the whole suite, 1 + 3 splits each
    python benchmarks/results/ucr.py --datasets GunPoint,Coffee --resamples 0
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import HERE, mean_sd, parser, write  # noqa: E402

from rnnkit.data.fetch import fetch  # noqa: E402
from rnnkit.data.series_files import read_series, split_files, write_ts  # noqa: E402

# Published test accuracies on the archive's own split, as (FCN, ResNet, InceptionTime, 1-NN DTW); None: no
# figure found. Sources, all stored public repositories:
#  FCN, ResNet, UCR 2018 (128 sets): hfawaz/dl-4-tsc results/results-ucr-128.csv (commit e0233ef), the mean of
#    the 5 runs (iteration 0-4) of each set.
#  InceptionTime, UCR 2018: hfawaz/InceptionTime results-InceptionTime-128.csv (commit 470ce14), one row per set
#    (InceptionTime is itself an ensemble of 5 networks).
#  1-NN DTW, UCR 2018: the archive's DataSummary.csv, column "DTW (learned_w)", an error rate (accuracy = 1 -
#    error); the copy read is Chang-George-Dong/TrojanTime DataSummary.csv (commit 72aef95), checked against
#    sensorlab/KAN_TS DataSummary.csv.
#  Multivariate, FCN and ResNet [mts]: hfawaz/dl-4-tsc README.md, table "averaged accuracy over 10 runs ... on
#    the MTS archive" (Baydogan's archive): JapaneseVowels is the UEA set (270/370 cases); its ArabicDigits
#    (6600/2200) is UEA SpokenArabicDigits (6599/2199) but for one case on each side. Its CharacterTrajectories
#    is another split (300/2558 against UEA's 1422/1436), so it is not entered.
#  Multivariate, InceptionTime [uea-it]: hfawaz/InceptionTime results-mts.csv as committed in 0d623a3 ("adding
#    results for mts archive", one run per set); the authors removed the file in 365ce4d and commented its
#    README link out, so these are their unreviewed figures. ERing there (0.133, chance for 6 classes) comes
#    from an earlier, broken release of that set and is not entered.
#  Not found: FCN/ResNet on the UEA-only sets, 1-NN DTW on any multivariate set, anything on Blink, EyesOpenShut,
#  KDD_Example, PhytoOzone and Covid3Month_disc.
_PUBLISHED = {
    # UCR 2018 archive (univariate)
    "ACSF1": (0.898, 0.916, 0.920, 0.620),
    "Adiac": (0.841, 0.833, 0.841, 0.609),
    "AllGestureWiimoteX": (0.713, 0.741, 0.790, 0.717),
    "AllGestureWiimoteY": (0.784, 0.794, 0.833, 0.730),
    "AllGestureWiimoteZ": (0.692, 0.726, 0.811, 0.651),
    "ArrowHead": (0.843, 0.838, 0.846, 0.800),
    "Beef": (0.680, 0.753, 0.700, 0.667),
    "BeetleFly": (0.910, 0.850, 0.800, 0.700),
    "BirdChicken": (0.940, 0.880, 0.950, 0.700),
    "BME": (0.836, 0.999, 0.993, 0.980),
    "Car": (0.913, 0.917, 0.883, 0.767),
    "CBF": (0.994, 0.996, 0.999, 0.996),
    "Chinatown": (0.980, 0.978, 0.985, 0.953),
    "ChlorineConcentration": (0.817, 0.853, 0.877, 0.650),
    "CinCECGTorso": (0.829, 0.838, 0.854, 0.930),
    "Coffee": (1.000, 1.000, 1.000, 1.000),
    "Computers": (0.819, 0.806, 0.796, 0.620),
    "CricketX": (0.794, 0.799, 0.854, 0.772),
    "CricketY": (0.793, 0.810, 0.851, 0.759),
    "CricketZ": (0.810, 0.809, 0.862, 0.746),
    "Crop": (0.738, 0.743, 0.772, 0.712),
    "DiatomSizeReduction": (0.346, 0.301, 0.935, 0.935),
    "DistalPhalanxOutlineAgeGroup": (0.718, 0.718, 0.734, 0.626),
    "DistalPhalanxOutlineCorrect": (0.760, 0.770, 0.783, 0.725),
    "DistalPhalanxTW": (0.695, 0.663, 0.683, 0.633),
    "DodgerLoopDay": (0.142, 0.150, 0.150, 0.588),
    "DodgerLoopGame": (0.768, 0.710, 0.855, 0.927),
    "DodgerLoopWeekend": (0.904, 0.952, 0.971, 0.978),
    "Earthquakes": (0.725, 0.712, 0.741, 0.727),
    "ECG200": (0.888, 0.874, 0.930, 0.880),
    "ECG5000": (0.940, 0.935, 0.941, 0.925),
    "ECGFiveDays": (0.985, 0.966, 1.000, 0.797),
    "ElectricDevices": (0.706, 0.728, 0.724, 0.619),
    "EOGHorizontalSignal": (0.565, 0.599, 0.594, 0.475),
    "EOGVerticalSignal": (0.446, 0.445, 0.475, 0.475),
    "EthanolLevel": (0.484, 0.758, 0.814, 0.282),
    "FaceAll": (0.938, 0.867, 0.807, 0.808),
    "FaceFour": (0.930, 0.955, 0.955, 0.886),
    "FacesUCR": (0.943, 0.954, 0.971, 0.912),
    "FiftyWords": (0.646, 0.740, 0.831, 0.758),
    "Fish": (0.961, 0.981, 0.983, 0.846),
    "FordA": (0.914, 0.937, 0.961, 0.691),
    "FordB": (0.772, 0.813, 0.862, 0.607),
    "FreezerRegularTrain": (0.997, 0.998, 0.996, 0.907),
    "FreezerSmallTrain": (0.683, 0.832, 0.867, 0.676),
    "Fungi": (0.018, 0.177, 1.000, 0.823),
    "GestureMidAirD1": (0.695, 0.698, 0.746, 0.639),
    "GestureMidAirD2": (0.631, 0.668, 0.731, 0.600),
    "GestureMidAirD3": (0.326, 0.340, 0.400, 0.377),
    "GesturePebbleZ1": (0.880, 0.901, 0.924, 0.826),
    "GesturePebbleZ2": (0.781, 0.777, 0.886, 0.778),
    "GunPoint": (1.000, 0.991, 1.000, 0.913),
    "GunPointAgeSpan": (0.996, 0.997, 0.987, 0.965),
    "GunPointMaleVersusFemale": (0.997, 0.992, 0.994, 0.975),
    "GunPointOldVersusYoung": (0.989, 0.989, 0.965, 0.965),
    "Ham": (0.707, 0.758, 0.714, 0.600),
    "HandOutlines": (0.799, 0.914, 0.954, 0.862),
    "Haptics": (0.490, 0.510, 0.549, 0.412),
    "Herring": (0.644, 0.600, 0.672, 0.531),
    "HouseTwenty": (0.982, 0.983, 0.975, 0.941),
    "InlineSkate": (0.332, 0.377, 0.491, 0.387),
    "InsectEPGRegularTrain": (0.999, 0.998, 1.000, 0.827),
    "InsectEPGSmallTrain": (0.218, 0.372, 0.944, 0.695),
    "InsectWingbeatSound": (0.392, 0.499, 0.639, 0.585),
    "ItalyPowerDemand": (0.963, 0.962, 0.965, 0.955),
    "LargeKitchenAppliances": (0.903, 0.901, 0.904, 0.795),
    "Lightning2": (0.734, 0.780, 0.770, 0.869),
    "Lightning7": (0.825, 0.827, 0.836, 0.712),
    "Mallat": (0.967, 0.974, 0.955, 0.914),
    "Meat": (0.803, 0.990, 0.933, 0.933),
    "MedicalImages": (0.778, 0.770, 0.795, 0.747),
    "MelbournePedestrian": (0.912, 0.909, 0.914, 0.816),
    "MiddlePhalanxOutlineAgeGroup": (0.535, 0.545, 0.552, 0.520),
    "MiddlePhalanxOutlineCorrect": (0.795, 0.826, 0.818, 0.766),
    "MiddlePhalanxTW": (0.501, 0.495, 0.513, 0.506),
    "MixedShapesRegularTrain": (0.955, 0.973, 0.970, 0.909),
    "MixedShapesSmallTrain": (0.893, 0.917, 0.915, 0.833),
    "MoteStrain": (0.936, 0.924, 0.887, 0.866),
    "NonInvasiveFetalECGThorax1": (0.958, 0.941, 0.961, 0.811),
    "NonInvasiveFetalECGThorax2": (0.953, 0.944, 0.964, 0.871),
    "OliveOil": (0.720, 0.847, 0.833, 0.867),
    "OSULeaf": (0.979, 0.980, 0.942, 0.612),
    "PhalangesOutlinesCorrect": (0.818, 0.845, 0.850, 0.761),
    "Phoneme": (0.328, 0.333, 0.341, 0.227),
    "PickupGestureWiimoteZ": (0.744, 0.704, 0.760, 0.660),
    "PigAirwayPressure": (0.172, 0.406, 0.543, 0.096),
    "PigArtPressure": (0.987, 0.991, 0.995, 0.197),
    "PigCVP": (0.831, 0.918, 0.962, 0.159),
    "PLAID": (0.904, 0.940, 0.944, 0.834),
    "Plane": (1.000, 1.000, 1.000, 1.000),
    "PowerCons": (0.863, 0.879, 0.944, 0.922),
    "ProximalPhalanxOutlineAgeGroup": (0.825, 0.847, 0.849, 0.785),
    "ProximalPhalanxOutlineCorrect": (0.907, 0.920, 0.931, 0.790),
    "ProximalPhalanxTW": (0.761, 0.773, 0.776, 0.756),
    "RefrigerationDevices": (0.497, 0.530, 0.517, 0.440),
    "Rock": (0.632, 0.552, 0.800, 0.840),
    "ScreenType": (0.622, 0.615, 0.589, 0.411),
    "SemgHandGenderCh2": (0.816, 0.824, 0.817, 0.845),
    "SemgHandMovementCh2": (0.476, 0.439, 0.482, 0.638),
    "SemgHandSubjectCh2": (0.742, 0.739, 0.824, 0.800),
    "ShakeGestureWiimoteZ": (0.884, 0.880, 0.900, 0.840),
    "ShapeletSim": (0.706, 0.782, 0.956, 0.700),
    "ShapesAll": (0.894, 0.926, 0.928, 0.802),
    "SmallKitchenAppliances": (0.777, 0.781, 0.760, 0.672),
    "SmoothSubspace": (0.975, 0.980, 0.993, 0.947),
    "SonyAIBORobotSurface1": (0.958, 0.961, 0.869, 0.696),
    "SonyAIBORobotSurface2": (0.980, 0.975, 0.946, 0.859),
    "StarLightCurves": (0.965, 0.972, 0.979, 0.905),
    "Strawberry": (0.975, 0.980, 0.984, 0.946),
    "SwedishLeaf": (0.967, 0.963, 0.974, 0.846),
    "Symbols": (0.955, 0.893, 0.981, 0.938),
    "SyntheticControl": (0.989, 0.997, 0.997, 0.983),
    "ToeSegmentation1": (0.961, 0.957, 0.965, 0.750),
    "ToeSegmentation2": (0.889, 0.894, 0.938, 0.908),
    "Trace": (1.000, 1.000, 1.000, 0.990),
    "TwoLeadECG": (0.999, 1.000, 0.996, 0.868),
    "TwoPatterns": (0.870, 1.000, 1.000, 0.999),
    "UMD": (0.988, 0.990, 0.986, 0.972),
    "UWaveGestureLibraryAll": (0.818, 0.861, 0.952, 0.966),
    "UWaveGestureLibraryX": (0.754, 0.781, 0.825, 0.773),
    "UWaveGestureLibraryY": (0.642, 0.666, 0.767, 0.699),
    "UWaveGestureLibraryZ": (0.727, 0.749, 0.764, 0.678),
    "Wafer": (0.997, 0.998, 0.999, 0.996),
    "Wine": (0.611, 0.722, 0.611, 0.611),
    "WordSynonyms": (0.561, 0.617, 0.734, 0.738),
    "Worms": (0.782, 0.761, 0.779, 0.532),
    "WormsTwoClass": (0.743, 0.748, 0.792, 0.584),
    "Yoga": (0.837, 0.867, 0.902, 0.844),
    # UEA 2018 archive (multivariate)
    "AtrialFibrillation": (None, None, 0.200, None),          # [uea-it] (spelt AtrialFibrilation there)
    "BasicMotions": (None, None, 1.000, None),                # [uea-it]
    "CharacterTrajectories": (None, None, 0.997, None),       # [uea-it]
    "Epilepsy": (None, None, 0.986, None),                    # [uea-it]
    "ERing": (None, None, None, None),
    "FingerMovements": (None, None, 0.520, None),             # [uea-it]
    "HandMovementDirection": (None, None, 0.338, None),       # [uea-it]
    "JapaneseVowels": (0.993, 0.992, 0.992, None),            # [mts], [uea-it]
    "SelfRegulationSCP1": (None, None, 0.782, None),          # [uea-it]
    "SelfRegulationSCP2": (None, None, 0.456, None),          # [uea-it]
    "SpokenArabicDigits": (0.994, 0.996, 0.996, None),        # [mts] as ArabicDigits, [uea-it]
}
PUBLISHED = {name: {k: v for k, v in zip(("FCN", "ResNet", "InceptionTime", "DTW"), figures) if v is not None}
             for name, figures in _PUBLISHED.items()}
PEERS = ("MiniRocket", "FCN", "ResNet", "InceptionTime", "DTW")
RANKED = ("rnnkit", "MiniRocket", "FCN", "ResNet", "InceptionTime")
TIE = 0.01                     # within 1 point: a tie
FAR = 0.05                     # more than 5 points under MiniRocket: counted
SMOKE_SETS = ("ItalyPowerDemand", "Chinatown", "GunPoint", "Coffee")   # the first one the suite has

# name (no commas: --candidates is a comma-separated list) -> flags. "rnn-old" is the recipe before series got
# their own defaults: an LSTM's last step, 1,000 constant-rate steps of 32.
CANDIDATES = {"defaults": [],
              "rnn-old": ["--model", "rnn", "--max-steps", "1000", "--batch-size", "32", "--lr", "2e-3",
                          "--eval-every", "100", "--schedule", "constant"],
              "series-norm": ["--normalize", "series"],
              "lstm128": ["--hidden-size", "128"],
              "length-off": ["--length-input", "off"],
              "narrow": ["--filters", "64,128,64"],
              "random-batches": ["--batches", "random"],
              "length-batches": ["--batches", "length"],
              "inception": ["--model", "lstm-inception"],
              "stretch": ["--stretch", "on"],
              "bidirectional": ["--bidirectional"]}
MINIROCKET = "minirocket"


def run(folder: Path, flags: list[str], seed: int, extra: list[str], threads: int) -> tuple[float, float, float]:
    """(test accuracy, wall seconds, CPU seconds of the run's process: user + system) of one command."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "rnnkit", "train", "classify", "--data", str(folder), "--run", f"{tmp}/run",
               "--seed", str(seed), *flags, *extra]
        t0 = time.perf_counter()
        with open(f"{tmp}/stderr", "w") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
            _, status, usage = os.wait4(proc.pid, 0)         # this child's own CPU time, whatever else runs
            proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {Path(f'{tmp}/stderr').read_text().strip().splitlines()[-1:]}")
        acc, secs = json.loads(Path(f"{tmp}/run/test_metrics.json").read_text())["accuracy"], time.perf_counter() - t0
        cpu = usage.ru_utime + usage.ru_stime
        print(f"{folder.name} seed {seed} {' '.join(flags) or '(defaults)'}: test accuracy {acc:.3f} in {secs:.0f} s "
              f"({cpu:.0f} s of CPU)", flush=True)
        return acc, secs, cpu


# ----------------------------------------------------------------------------- MiniRocket (aeon)

PEERS_PATH = os.environ.get("UCR_PEERS_PATH", "")   # a folder of the peers' packages (aeon and the numpy its numba
                                                   # needs), put on the path of the MiniRocket processes alone


def peers_env(env: dict | None) -> dict | None:
    """``env`` with ``PEERS_PATH`` first on the Python path (None: unchanged)."""
    if not PEERS_PATH:
        return env
    env = dict(env or os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PEERS_PATH, env.get("PYTHONPATH", "")) if p)
    return env


def aeon_missing() -> bool:
    if PEERS_PATH:
        return importlib.machinery.PathFinder.find_spec("aeon", [PEERS_PATH]) is None
    return importlib.util.find_spec("aeon") is None


def _equal_length(series, length: int):
    """(N, D, length) float64 array of (T, D) tensors: missing values filled from the last value before them (the
    first after them at the start), series shorter than ``length`` padded at the end with their last value."""
    import numpy as np
    out = []
    for s in series:
        a = s.double().numpy().T.copy()                       # (D, T)
        for row in a:
            nan = np.isnan(row)
            if nan.all():
                row[:] = 0.0
            elif nan.any():
                index = np.where(~nan, np.arange(len(row)), 0)
                np.maximum.accumulate(index, out=index)
                first = np.flatnonzero(~nan)[0]
                index[:first] = first
                row[:] = row[index]
        out.append(a)
    return np.stack([np.pad(a, ((0, 0), (0, length - a.shape[1])), mode="edge") for a in out])


def minirocket_worker(folder: str, seed: int, n_jobs: int) -> dict:
    """Fit MiniRocket on a problem folder's train file and score its test file (runs in its own process)."""
    import numpy as np
    from aeon.classification.convolution_based import MiniRocketClassifier
    train, test = split_files(folder)
    x_train, y_train = read_series(train)
    x_test, y_test = read_series(test)
    length = max(s.shape[0] for s in x_train + x_test)
    x_train, x_test = _equal_length(x_train, length), _equal_length(x_test, length)
    t0 = time.perf_counter()
    model = MiniRocketClassifier(random_state=seed, n_jobs=n_jobs).fit(x_train, np.array(y_train))
    accuracy = float(np.mean(model.predict(x_test) == np.array(y_test)))
    return {"accuracy": accuracy, "fit_predict_seconds": time.perf_counter() - t0}


def minirocket_warmup() -> None:
    """Compile aeon's MiniRocket numba functions (univariate and multivariate) on random data; numba caches them."""
    import numpy as np
    from aeon.classification.convolution_based import MiniRocketClassifier
    rng = np.random.default_rng(0)
    for dims in (1, 2):
        x, y = rng.normal(size=(8, dims, 32)), np.array([0, 1] * 4)
        MiniRocketClassifier(n_kernels=84, random_state=0).fit(x, y).predict(x)


def run_minirocket(folder: Path, seed: int, threads: int) -> tuple[float, float, float]:
    """(test accuracy, wall seconds, CPU seconds) of MiniRocket on one split, in its own process."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "NUMBA_NUM_THREADS": str(threads)} if threads else None
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--minirocket-worker", str(folder), str(seed), str(threads or -1),
               f"{tmp}/out.json"]
        t0 = time.perf_counter()
        with open(f"{tmp}/stderr", "w") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=peers_env(env))
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"MiniRocket on {folder} failed: "
                               f"{Path(f'{tmp}/stderr').read_text().strip().splitlines()[-1:]}")
        acc, secs = json.loads(Path(f"{tmp}/out.json").read_text())["accuracy"], time.perf_counter() - t0
        cpu = usage.ru_utime + usage.ru_stime
        print(f"{folder.name} seed {seed} MiniRocket: test accuracy {acc:.3f} in {secs:.0f} s ({cpu:.0f} s of CPU)",
              flush=True)
        return acc, secs, cpu


# ----------------------------------------------------------------------------- splits

def suite_names(root: Path) -> list[str]:
    """Dataset folders listed by ``suite.json`` (a list of names, of {"name": ...} objects, a {name: info}
    mapping, or any of these under "datasets"), else every folder of ``root`` holding a train file."""
    path = root / "suite.json"
    if path.is_file():
        listed = json.loads(path.read_text())
        if isinstance(listed, dict) and "datasets" in listed:
            listed = listed["datasets"]
        if isinstance(listed, dict):
            return list(listed)
        return [item if isinstance(item, str) else item["name"] for item in listed]
    return sorted(p.name for p in root.iterdir() if p.is_dir() and split_files(p) is not None)


class Splits:
    """The problem folder of each (dataset, split): the archive's own for split 0, resamples written once."""

    def __init__(self, root: Path, scratch: Path):
        self.root, self.scratch = root, scratch
        self.lock = threading.Lock()
        self.data: dict[str, tuple] = {}

    def folder(self, name: str, split: int) -> Path:
        if split == 0:
            return self.root / name
        target = self.scratch / f"split{split}" / name
        with self.lock:
            if (target / f"{name}_TEST.ts").is_file():
                return target
            if name not in self.data:
                train, test = split_files(self.root / name)
                if test is None:
                    raise RuntimeError(f"{self.root / name} has no test file to pool with its train file")
                x_train, y_train = read_series(train)
                x_test, y_test = read_series(test)
                self.data[name] = (x_train + x_test, y_train + y_test, len(y_train))
            series, labels, n_train = self.data[name]
            rng = random.Random(split)
            by_class: dict[str, list[int]] = {}
            for i, label in enumerate(labels):
                by_class.setdefault(label, []).append(i)
            train_counts: dict[str, int] = {}
            for label in labels[:n_train]:
                train_counts[label] = train_counts.get(label, 0) + 1
            train_idx, test_idx = [], []
            for label in sorted(by_class):
                idx = by_class[label][:]
                rng.shuffle(idx)
                k = train_counts.get(label, 0)
                train_idx += idx[:k]
                test_idx += idx[k:]
            train_idx.sort()
            test_idx.sort()
            write_ts(target / f"{name}_TRAIN.ts", [series[i] for i in train_idx], [labels[i] for i in train_idx],
                     name=name)
            write_ts(target / f"{name}_TEST.ts", [series[i] for i in test_idx], [labels[i] for i in test_idx],
                     name=name)
            return target


# ----------------------------------------------------------------------------- partial results

class Partial:
    """Finished runs as JSON lines; a line is written whole (one write, flushed and synced) as a run ends."""

    def __init__(self, path: Path):
        self.path, self.lock = path, threading.Lock()
        self.done: dict[tuple, dict] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                    self.done[self.key(row)] = row
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue                                   # a line cut short by an interruption

    @staticmethod
    def key(row: dict) -> tuple:
        return row["dataset"], row["split"], row["candidate"], row["config"]

    def add(self, row: dict) -> None:
        with self.lock:
            self.done[self.key(row)] = row
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())


# ----------------------------------------------------------------------------- summary and table

def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def _pct_sd(values: list[float]) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def _ranks(values: dict[str, float]) -> dict[str, float]:
    """Rank 1 = the most accurate; equal accuracies share the mean of their ranks."""
    order = sorted(values, key=lambda k: -values[k])
    ranks, i = {}, 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and abs(values[order[j + 1]] - values[order[i]]) < 1e-9:
            j += 1
        for k in order[i:j + 1]:
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def summarise(rows: list[dict], with_minirocket: bool) -> dict:
    peers = [p for p in PEERS if with_minirocket or p != "MiniRocket"]
    wtl = {}
    for peer in peers:
        w = t = lost = 0
        for r in rows:
            ours, theirs = ((r["rnnkit_mean"], r["minirocket_mean"]) if peer == "MiniRocket"
                            else (r["rnnkit_archive"], r["published"].get(peer)))
            if ours is None or theirs is None:
                continue
            if abs(ours - theirs) <= TIE + 1e-9:
                t += 1
            elif ours > theirs:
                w += 1
            else:
                lost += 1
        wtl[peer] = {"wins": w, "ties": t, "losses": lost}
    ranked = [m for m in RANKED if with_minirocket or m != "MiniRocket"]
    rank_sets, rank_sum = [], {m: 0.0 for m in ranked}
    for r in rows:
        values = {"rnnkit": r["rnnkit_archive"], "MiniRocket": r.get("minirocket_archive"),
                  **{m: r["published"].get(m) for m in ("FCN", "ResNet", "InceptionTime")}}
        values = {m: values[m] for m in ranked}
        if any(v is None for v in values.values()):
            continue
        rank_sets.append(r["dataset"])
        for m, rank in _ranks(values).items():
            rank_sum[m] += rank
    out = {"wins_ties_losses": wtl, "tie_within": TIE,
           "mean_rank": {m: round(rank_sum[m] / len(rank_sets), 2) for m in ranked} if rank_sets else {},
           "rank_sets": rank_sets,
           "under_dtw": [r["dataset"] for r in rows if r["published"].get("DTW") is not None
                         and r["rnnkit_archive"] is not None and r["rnnkit_archive"] < r["published"]["DTW"] - TIE],
           "median_seconds_rnnkit": _median([r["rnnkit_median_seconds"] for r in rows])}
    if with_minirocket:
        gaps = [r["rnnkit_mean"] - r["minirocket_mean"] for r in rows
                if r["rnnkit_mean"] is not None and r["minirocket_mean"] is not None]
        out["mean_gap_to_minirocket_points"] = round(100 * statistics.mean(gaps), 2) if gaps else None
        out["far_under_minirocket"] = [r["dataset"] for r in rows if r["rnnkit_mean"] is not None
                                       and r["minirocket_mean"] is not None
                                       and r["rnnkit_mean"] < r["minirocket_mean"] - FAR]
        out["median_seconds_minirocket"] = _median([r["minirocket_median_seconds"] for r in rows])
    return out


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def _cell(values: list[float], splits: int) -> str:
    """mean ± sd, with (k/N splits) when only k of the N splits are done."""
    text = _pct_sd(values)
    return text + (f" ({len(values)}/{splits} splits)" if values and len(values) < splits else "")


def markdown(candidate: str, rows: list[dict], summary: dict, splits: int, with_minirocket: bool) -> str:
    mr = with_minirocket
    head = ["Dataset", f"rnnkit ({splits} split{'s' if splits > 1 else ''})", "rnnkit, archive split"]
    head += ["MiniRocket"] if mr else []
    head += ["FCN", "ResNet", "InceptionTime", "1-NN DTW", "rnnkit s"] + (["MiniRocket s"] if mr else [])
    lines = [f"**{candidate}** (test accuracy %, mean ± sd over the splits; published figures on the archive split)",
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["dataset"], _cell(r["rnnkit_accuracies"], splits), _pct(r["rnnkit_archive"])]
        cells += [_cell(r["minirocket_accuracies"], splits)] if mr else []
        cells += [_pct(r["published"].get(k)) for k in ("FCN", "ResNet", "InceptionTime", "DTW")]
        cells += [f"{r['rnnkit_median_seconds']:.0f}" if r["rnnkit_median_seconds"] is not None else ""]
        cells += [f"{r['minirocket_median_seconds']:.0f}" if r["minirocket_median_seconds"] is not None else ""] \
            if mr else []
        lines.append("| " + " | ".join(cells) + " |")
    s = summary
    lines += ["", "rnnkit against each (wins / ties within 1 point / losses): " + ", ".join(
        f"{p} {v['wins']}/{v['ties']}/{v['losses']}" for p, v in s["wins_ties_losses"].items()) + "."]
    if s["mean_rank"]:
        lines.append(f"Mean rank on the archive split over the {len(s['rank_sets'])} sets with all of them: " +
                     ", ".join(f"{m} {v:.2f}" for m, v in sorted(s["mean_rank"].items(), key=lambda kv: kv[1])) + ".")
    if mr:
        lines.append(f"Mean gap to MiniRocket: {s['mean_gap_to_minirocket_points']:+.1f} points; more than 5 points "
                     f"under it on {len(s['far_under_minirocket'])} set(s)"
                     + (f" ({', '.join(s['far_under_minirocket'])})" if s["far_under_minirocket"] else "") + "."
                     if s["mean_gap_to_minirocket_points"] is not None else "Mean gap to MiniRocket: n/a.")
    lines.append(f"Under 1-NN DTW (by more than 1 point) on {len(s['under_dtw'])} set(s)"
                 + (f" ({', '.join(s['under_dtw'])})" if s["under_dtw"] else "") + ".")
    lines.append(f"Median wall seconds per run: rnnkit {s['median_seconds_rnnkit']}"
                 + (f", MiniRocket {s['median_seconds_minirocket']}" if mr else "") + ".")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main

def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--minirocket-warmup":
        minirocket_warmup()
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--minirocket-worker":
        folder, seed, n_jobs, out = sys.argv[2:6]
        Path(out).write_text(json.dumps(minirocket_worker(folder, int(seed), int(n_jobs))))
        return
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--datasets", default="", help="comma-separated dataset folders (default: the whole suite)")
    p.add_argument("--resamples", type=int, default=3, help="stratified resamples besides the archive's split "
                   "(default 3)")
    p.add_argument("--candidates", default="defaults", help="comma-separated names of CANDIDATES (default: "
                   "defaults; 'all' for every one)")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time, each on one thread (default 1: one run, "
                   "every thread)")
    p.add_argument("--extra-flags", default="", help="flags added to every rnnkit run, e.g. --extra-flags='--max-steps "
                   "50' for a quick look (a different setting: its runs are kept apart in --out-partial)")
    p.add_argument("--no-minirocket", action="store_true", help="leave MiniRocket out")
    p.add_argument("--out-partial", default=None, help="JSON lines of finished runs, appended as they finish and "
                   "skipped on a rerun (default: ucr_suite.partial.jsonl next to the script; --smoke: a temporary "
                   "file)")
    p.add_argument("--markdown", default=None, help="Markdown table (default: ucr_suite.md next to the script; "
                   "--smoke: next to --out)")
    args = p.parse_args()
    started = time.perf_counter()
    names = [c for c in CANDIDATES] if args.candidates == "all" else args.candidates.split(",")
    unknown = [c for c in names if c not in CANDIDATES]
    if unknown:
        raise SystemExit(f"unknown candidates {unknown}; known: {', '.join(CANDIDATES)}")
    candidates = {c: CANDIDATES[c] for c in names}
    extra: list[str] = args.extra_flags.split()
    root = fetch("ucr")
    suite = suite_names(root)
    datasets = args.datasets.split(",") if args.datasets else suite
    missing = [d for d in datasets if split_files(root / d) is None]
    if missing:
        raise SystemExit(f"no such dataset folder in {root}: {', '.join(missing)}")
    partial_path = Path(args.out_partial) if args.out_partial else HERE / "ucr_suite.partial.jsonl"
    if args.smoke:
        args.resamples, extra = 0, ["--max-steps", "3", "--eval-every", "3"]
        args.jobs = max(args.jobs, 2)                          # rnnkit and MiniRocket side by side
        candidates = dict(list(candidates.items())[:1])
        datasets = [next((d for d in SMOKE_SETS if split_files(root / d) is not None), datasets[0])]
        if not args.out_partial:
            partial_path = Path(tempfile.mkdtemp()) / "ucr_suite.partial.jsonl"
    with_minirocket = not args.no_minirocket
    if with_minirocket and aeon_missing():
        print("MiniRocket left out: aeon is not installed (pip install aeon)", flush=True)
        with_minirocket = False
    threads = 1 if args.jobs > 1 else 0
    partial = Partial(partial_path)
    splits = list(range(args.resamples + 1))
    config = {c: " ".join(flags + extra) for c, flags in candidates.items()}
    plan = [(d, s, c) for d in datasets for s in splits
            for c in list(candidates) + ([MINIROCKET] if with_minirocket else [])]
    todo = [t for t in plan if (t[0], t[1], t[2], config.get(t[2], "default")) not in partial.done]
    print(f"{len(plan)} runs ({len(datasets)} sets x {len(splits)} splits x "
          f"{len(candidates) + with_minirocket} methods); {len(plan) - len(todo)} already in {partial_path}",
          flush=True)
    failures: list[str] = []
    if with_minirocket and not args.smoke and any(t[2] == MINIROCKET for t in todo):
        warm = subprocess.run([sys.executable, __file__, "--minirocket-warmup"], capture_output=True, text=True,
                              env=peers_env(None))
        if warm.returncode != 0:
            raise SystemExit(f"MiniRocket does not run here: {warm.stderr.strip().splitlines()[-1:]} (--no-minirocket "
                             f"leaves it out)")
    with tempfile.TemporaryDirectory(prefix="ucr-splits-") as scratch:
        folders = Splits(root, Path(scratch))

        stop = threading.Event()

        def task(t: tuple) -> None:
            name, split, cand = t
            if stop.is_set():
                return
            try:
                folder = folders.folder(name, split)
                if cand == MINIROCKET:
                    acc, secs, cpu = run_minirocket(folder, split, threads)
                else:
                    acc, secs, cpu = run(folder, candidates[cand], split, extra, threads)
            except Exception as e:                                 # noqa: BLE001 - recorded, the suite goes on
                if stop.is_set():
                    return
                print(f"FAILED {name} split {split} {cand}: {e}", flush=True)
                failures.append(f"{name} split {split} {cand}: {e}")
                return
            partial.add({"dataset": name, "split": split, "candidate": cand, "config": config.get(cand, "default"),
                         "seed": split, "accuracy": acc, "seconds": round(secs, 2), "cpu_seconds": round(cpu, 2)})

        pool = ThreadPoolExecutor(args.jobs)
        try:
            for future in [pool.submit(task, t) for t in todo]:
                future.result()
        except KeyboardInterrupt:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise SystemExit(f"interrupted: {len(partial.done)} finished runs are kept in {partial_path}; the same "
                             f"command resumes") from None
        pool.shutdown()

    def results(name: str, cand: str) -> list[dict]:
        found = [partial.done.get((name, s, cand, config.get(cand, "default"))) for s in splits]
        return [r for r in found if r is not None]

    tables, per_candidate = [], {}
    for cand in candidates:
        rows = []
        for name in datasets:
            ours, theirs = results(name, cand), results(name, MINIROCKET) if with_minirocket else []
            archive = next((r["accuracy"] for r in ours if r["split"] == 0), None)
            mr_archive = next((r["accuracy"] for r in theirs if r["split"] == 0), None)
            rows.append({
                "dataset": name, "splits_done": len(ours),
                "rnnkit_accuracies": [r["accuracy"] for r in ours],
                "rnnkit_mean": statistics.mean([r["accuracy"] for r in ours]) if ours else None,
                "rnnkit_test_accuracy": mean_sd([r["accuracy"] for r in ours]), "rnnkit_archive": archive,
                "rnnkit_median_seconds": _median([r["seconds"] for r in ours]),
                "rnnkit_median_cpu_seconds": _median([r["cpu_seconds"] for r in ours]),
                "minirocket_accuracies": [r["accuracy"] for r in theirs],
                "minirocket_mean": statistics.mean([r["accuracy"] for r in theirs]) if theirs else None,
                "minirocket_test_accuracy": mean_sd([r["accuracy"] for r in theirs]) if theirs else None,
                "minirocket_archive": mr_archive,
                "minirocket_median_seconds": _median([r["seconds"] for r in theirs]),
                "published": PUBLISHED.get(name, {})})
            print({k: v for k, v in rows[-1].items() if "accuracies" not in k}, flush=True)
        summary = summarise(rows, with_minirocket)
        per_candidate[cand] = {"flags": config[cand], "rows": rows, "summary": summary}
        tables.append(markdown(cand, rows, summary, len(splits), with_minirocket))
    table = "\n".join(tables)
    print("\n" + table)
    md = Path(args.markdown) if args.markdown else (
        (Path(args.out).with_suffix(".md") if args.out else HERE / "ucr_suite.smoke.md") if args.smoke
        else HERE / "ucr_suite.md")
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(table)
    print(f"wrote {md}")
    first = per_candidate[next(iter(candidates))]
    write("ucr_suite", args, {"datasets": datasets, "splits": splits, "resamples": args.resamples,
                              "jobs": args.jobs, "minirocket": with_minirocket, "partial": str(partial_path),
                              "candidates": per_candidate, "rows": first["rows"], "summary": first["summary"],
                              "failures": failures, "markdown": table}, started)
    if failures:
        raise SystemExit(f"{len(failures)} run(s) failed; rerun to retry them: " + "; ".join(failures))


if __name__ == "__main__":
    main()
