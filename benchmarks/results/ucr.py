"""Time-series classification on UCR/UEA datasets from the aeon wheel, with the archive's own split.

One recurrent configuration chosen before looking at any test set: a bidirectional GRU, 64 units
per direction, Adam lr 3e-3, batch 16, 600 steps, series z-normalised with the training set's
statistics; mean and spread over 3 seeds of the test accuracy at the end of training (no selection
on the test set). Published figures are quoted from issue 5 (Fawaz et al. 2019 FCN / ResNet;
Karim et al. LSTM-FCN).

    python benchmarks/results/ucr.py
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import mean_sd, parser, write  # noqa: E402

from rnnkit.data.fetch import fetch  # noqa: E402
from rnnkit.models import RecurrentConfig  # noqa: E402
from rnnkit.data.tsfile import read_ts  # noqa: E402
from rnnkit.tasks.classify import Classify, ClassifyConfig  # noqa: E402
from rnnkit.train import TrainConfig, Trainer  # noqa: E402

PUBLISHED = {"GunPoint": {"FCN": 1.000, "ResNet": 0.991, "LSTM-FCN": 1.0},
             "ItalyPowerDemand": {"FCN": 0.961, "ResNet": 0.963, "LSTM-FCN": 0.962},
             "BasicMotions": {}}


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=600)
    args = p.parse_args()
    if args.smoke:
        args.seeds, args.steps = 1, 5
    started = time.perf_counter()
    root = fetch("ucr")
    rows = []
    for name in (["ItalyPowerDemand"] if args.smoke else PUBLISHED):
        accs, times = [], []
        for seed in range(args.seeds):
            task = Classify.prepare(ClassifyConfig(), RecurrentConfig(cell="gru", hidden_size=64, bidirectional=True),
                                    str(root / name), seed=seed)
            torch.manual_seed(seed)
            model = task.build_model()
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as run:
                Trainer(task, model, TrainConfig(steps=args.steps, batch_size=16, lr=3e-3, eval_every=args.steps,
                                                 seed=seed), Path(run)).fit()
            # the weights after the last step (one validation, at the end: nothing selected), on the test file
            _, test = task.test_metrics(model)
            accs.append(test["accuracy"])
            times.append(time.perf_counter() - t0)
        n_test = len(read_ts(task.meta["test"])[1])
        rows.append({"dataset": name, "train": len(task.train_y) + len(task.valid_y), "test": n_test,
                     "rnnkit_bigru_accuracy": mean_sd(accs), "accuracies": accs,
                     "seconds_per_run": statistics.median(times), "published": PUBLISHED[name]})
        print(rows[-1], flush=True)
    write("ucr", args, {"steps": args.steps, "rows": rows}, started)


if __name__ == "__main__":
    main()
