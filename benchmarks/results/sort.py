"""Albert's notes' sorting network (many-to-one-to-many): exact-match accuracy against sequence length,
with and without attention.

Trained on sequences of 2..8 digits (alphabet of 10) for a fixed time budget each; evaluated by
greedy decoding on 300 fresh sequences per length 2..12 (9..12 never seen in training).

    python benchmarks/results/sort.py --budget 240
"""
from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import parser, write  # noqa: E402

from rnnkit.models import RecurrentConfig  # noqa: E402
from rnnkit.tasks.seq2seq import Seq2SeqConfig, Seq2SeqTask  # noqa: E402
from rnnkit.runtime.train import TrainConfig, Trainer  # noqa: E402


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=240.0, help="training seconds per model")
    args = p.parse_args()
    lengths = range(2, 13)
    per_length = 300
    if args.smoke:
        args.budget, lengths, per_length = 2.0, range(2, 4), 10
    started = time.perf_counter()
    rows = []
    for attention in ("none", "additive", "dot"):
        cfg = Seq2SeqConfig(attention=attention, sort_min_len=2, sort_max_len=8, valid_size=200, max_decode_len=26)
        task = Seq2SeqTask.prepare(cfg, RecurrentConfig(cell="lstm", hidden_size=128), None, seed=0)
        torch.manual_seed(0)
        model = task.build_model()
        with tempfile.TemporaryDirectory() as run:
            trainer = Trainer(task, model, TrainConfig(steps=10**6, batch_size=64, lr=3e-3, eval_every=10**7,
                                                       max_time=args.budget, seed=0), Path(run))
            trainer.fit()
        row = {"attention": attention, "steps": trainer.step, "exact_match_by_length": {}}
        rng = random.Random(12345)
        for n in lengths:
            seqs = [[rng.randrange(10) for _ in range(n)] for _ in range(per_length)]
            task.valid_pairs = [task.encode_pair([str(v) for v in s], [str(v) for v in sorted(s)]) for s in seqs]
            row["exact_match_by_length"][n] = task.evaluate(model)["exact_match"]
        rows.append(row)
        print(row, flush=True)
    write("sort", args, {"budget_s": args.budget, "train_lengths": "2..8", "rows": rows}, started)


if __name__ == "__main__":
    main()
