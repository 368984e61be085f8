"""The Theano notebook's finding, made precise: Elman vs GRU vs LSTM on the Reber and embedded Reber grammars.

For each cell and seed: train next-symbol prediction (independent sigmoids, the Theano notebook) on fresh
strings, batch 32, Adam lr 1e-2, H=32, checking every 25 batches on 1000 held-out strings; a run is
*solved* when every next-symbol set of all 1000 strings is right. Reported: share of runs solved,
training strings needed (solved runs), and on the embedded grammar the mean probability the model
gives to the right and to the wrong symbol at the second-to-last position (50/50 = no memory).

With ``--setup seed003`` the training is the Theano notebook's own: 10 hidden units, SVD-rescaled initial
weights, plain SGD with learning rate 0.2, one string per update, 10,000 strings (its 1000 strings
x 10 epochs), checked every 500 strings.

    python benchmarks/results/reber.py                     # 10 seeds x 3 cells x 2 grammars, Adam
    python benchmarks/results/reber.py --setup seed003     # the same with the Theano notebook's training
    python benchmarks/results/reber.py --smoke
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import mean_sd, parser, write  # noqa: E402

from rnnkit.cells import svd_rescaled_  # noqa: E402
from rnnkit.models import RecurrentConfig  # noqa: E402
from rnnkit.tasks.reber import Reber, ReberConfig  # noqa: E402


@torch.no_grad()
def second_to_last(task, model) -> tuple[float, float]:
    """Mean sigmoid output for the right and for the wrong branch symbol at the second-to-last step."""
    batch = task._batch(task.valid)
    probs = torch.sigmoid(model(batch.x, batch.lengths)[0])
    idx = batch.lengths - 2
    rows = probs[torch.arange(len(idx)), idx]                         # (N, 7)
    right_sym = torch.tensor(["BTSXPVE".index(s[1]) for s in task.valid])
    wrong_sym = torch.tensor(["BTSXPVE".index("P" if s[1] == "T" else "T") for s in task.valid])
    return rows[torch.arange(len(idx)), right_sym].mean().item(), rows[torch.arange(len(idx)), wrong_sym].mean().item()


SETUPS = {"adam": dict(hidden=32, batch=32, check_every=25),
          "seed003": dict(hidden=10, batch=1, check_every=500)}


def run(cell: str, seed: int, embedded: bool, max_strings: int, valid: int, setup: str) -> dict:
    torch.manual_seed(seed)
    opts = SETUPS[setup]
    task = Reber.prepare(ReberConfig(embedded=embedded, valid_strings=valid, samples=0),
                         RecurrentConfig(cell=cell, hidden_size=opts["hidden"]), None, seed=seed)
    model = task.build_model()
    if setup == "seed003":
        svd_rescaled_(model)
        opt = torch.optim.SGD(model.parameters(), lr=0.2)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    B, step, solved_at = opts["batch"], 0, None
    while step * B < max_strings:
        model.train()
        loss, _, _ = task.loss(model, task.train_batch(step, B), None)
        opt.zero_grad()
        loss.backward()
        if setup == "adam":
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        if step % opts["check_every"] == 0 and task.evaluate_solved(model) == 1.0:
            solved_at = step * B
            break
    out = {"cell": cell, "seed": seed, "embedded": embedded, "solved": solved_at is not None,
           "strings": solved_at if solved_at is not None else step * B, "final_solved_share": task.evaluate_solved(model)}
    if embedded:
        out["p_right"], out["p_wrong"] = second_to_last(task, model)
    return out


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--max-strings", type=int, default=None,
                   help="training strings per run before giving up (default 64000 for adam, 10000 for seed003)")
    p.add_argument("--setup", choices=sorted(SETUPS), default="adam", help="the training recipe")
    p.add_argument("--cells", default="elman,gru,lstm", help="comma-separated cells to run")
    p.add_argument("--grammars", default="reber,embedded", help="comma-separated: reber, embedded")
    p.add_argument("--add-runs", default=None, help="a JSON list of runs made before (merged into the summary)")
    args = p.parse_args()
    if args.max_strings is None:
        args.max_strings = 64_000 if args.setup == "adam" else 10_000
    if args.smoke:
        args.seeds, args.max_strings = 1, 320
    started = time.perf_counter()
    runs = json.loads(Path(args.add_runs).read_text()) if args.add_runs else []
    grammars = [g == "embedded" for g in args.grammars.split(",")]
    for embedded in grammars:
        for cell in args.cells.split(","):
            for seed in range(args.seeds):
                r = run(cell, seed, embedded, args.max_strings, 50 if args.smoke else 1000, args.setup)
                runs.append(r)
                print(r, flush=True)
    summary = []
    for embedded in (False, True):
        for cell in ("elman", "gru", "lstm"):
            rs = [r for r in runs if r["cell"] == cell and r["embedded"] == embedded]
            if not rs:
                continue
            solved = [r["strings"] for r in rs if r["solved"]]
            row = {"grammar": "embedded Reber" if embedded else "Reber", "cell": cell, "runs": len(rs),
                   "solved": sum(r["solved"] for r in rs),
                   "strings_needed_median": statistics.median(solved) if solved else None,
                   "strings_needed": mean_sd(solved), "final_solved_share": mean_sd([r["final_solved_share"] for r in rs])}
            if embedded:
                row["p_right_second_to_last"] = mean_sd([r["p_right"] for r in rs])
                row["p_wrong_second_to_last"] = mean_sd([r["p_wrong"] for r in rs])
            summary.append(row)
    name = "reber" if args.setup == "adam" else f"reber_{args.setup}"
    write(name, args, {"setup": args.setup, **SETUPS[args.setup], "max_strings": args.max_strings,
                       "summary": summary, "runs": runs}, started)


if __name__ == "__main__":
    main()
