"""The Simple RNNs post's claim, measured: adding binary numbers, trained on at most 8 bits, scored at 8, 16,
32 (and 128) bits.

The post (*An introduction to recurrent neural networks: Simple RNNs*, the paragraph "Traditional feed forward
neural networks work by…") says a network "trained to perform addition on 4 digit numbers" will not add 5 digit
ones, and that recurrent networks are the way out. Each row is the command a user types,
`rnnkit train binary-add --cell C --seed S` (defaults: 1..8-bit numbers, H = 16, 1000 batches of 32, Adam
lr 1e-2), in its own process with OMP_NUM_THREADS=1; the weights validation selected (whole-sum accuracy at the
training lengths) are then scored in this process on the run's validation sets of exactly 8, 16 and 32 bits
(``sum_accuracy_8/16/32``, what the run itself reports) and on a further set of 128-bit sums. A sum is right when
every one of its n + 1 bits is. Mean ± sd over the seeds.

    python benchmarks/results/binary_add.py                 # seeds 0, 1, 2 x elman, lstm
    python benchmarks/results/binary_add.py --smoke
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import mean_sd, parser, write  # noqa: E402

from rnnkit.runs import open_run  # noqa: E402
from rnnkit.tasks.binary_add import batch_of, draw  # noqa: E402

FAR_BITS = 128          # beyond the run's own sets: does the carry survive 128 steps?
METRICS = ("sum_accuracy", "bit_accuracy", "sum_accuracy_8", "sum_accuracy_16", "sum_accuracy_32",
           f"sum_accuracy_{FAR_BITS}")


def train(cell: str, seed: int, run: Path, extra: list[str]) -> dict:
    """One run as a user types it; the selected weights' metrics, the steps and the seconds it took."""
    cmd = [sys.executable, "-m", "rnnkit", "train", "binary-add", "--cell", cell, "--seed", str(seed),
           "--run", str(run), *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    task, model = open_run(run)
    task.load_eval_data(None)                   # the run's own validation sets, as `rnnkit eval RUN` scores them
    metrics = task.evaluate(model)
    far = batch_of(*draw(task.cfg.valid_size, FAR_BITS, FAR_BITS, torch.Generator().manual_seed(-10_007 - seed)))
    metrics[f"sum_accuracy_{FAR_BITS}"] = task.scores(model, far)[2]
    with (run / "metrics.csv").open() as f:
        last = list(csv.DictReader(f))[-1]
    return {"cell": cell, "seed": seed, **{k: metrics[k] for k in METRICS}, "steps": int(last["step"]),
            "train_seconds": float(last["elapsed_s"]), "wall_seconds": round(seconds, 1)}


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3, help="runs per cell, seeds 0..N-1 (default 3)")
    p.add_argument("--cells", default="elman,lstm", help="comma-separated cells (default elman,lstm)")
    args = p.parse_args()
    extra = ["--max-steps", "3", "--eval-every", "3", "--valid-size", "20", "--hidden-size", "8"] if args.smoke else []
    seeds = 1 if args.smoke else args.seeds
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cell in args.cells.split(","):
            for seed in range(seeds):
                rows.append(train(cell, seed, Path(tmp) / f"{cell}-{seed}", extra))
                print(rows[-1], flush=True)
    summary = [{"cell": cell, "runs": len(rs), **{k: mean_sd([r[k] for r in rs]) for k in METRICS},
                "wall_seconds": mean_sd([r["wall_seconds"] for r in rs])}
               for cell in args.cells.split(",") for rs in [[r for r in rows if r["cell"] == cell]]]
    for row in summary:
        print(row)
    write("binary_add", args, {"command": "rnnkit train binary-add --cell CELL --seed SEED", "train_bits": "1..8",
                               "extra_flags": extra, "scored_bits": [8, 16, 32, FAR_BITS],
                               "valid_size": 20 if args.smoke else 500, "rows": rows, "summary": summary}, started)


if __name__ == "__main__":
    main()
