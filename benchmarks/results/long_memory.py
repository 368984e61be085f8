"""Long memory: the copy and adding problems (Arjovsky et al. 2016; Jing et al. 2017, the EUNN the ML@B
slides close with) for EUNN, minGRU, minLSTM, LSTM (plain and chrono-initialised) and GRU, at the
hidden sizes of the uRNN paper (LSTM 40 and 128, the others 128; EUNN 128 complex units), each with
the same wall-clock budget; then the vanishing-gradient curves of the copy problem.

Copy (lag T): 10 symbols from {1..8}, T - 1 blanks, a delimiter and 10 blanks; the model outputs blanks
and then the 10 symbols; no-memory baseline cross-entropy 10 log 8 / (T + 20). Adding (length T): the
sum of the two marked values of T (value, marker) steps; baseline MSE 1/6. ``ratio`` = loss / baseline
on 500 fresh sequences (1: nothing remembered; 0.01: solved). One recipe for every cell and problem:
the models `rnnkit train memory` builds (copy: embedding of the 10 symbols; adding: the last output),
Adam lr 1e-3, batch 32, gradient norm clipped at 1.

    python benchmarks/results/long_memory.py --budget 45                 # the table (T = 100 ... 1000)
    python benchmarks/results/long_memory.py --target --budget 1200      # EUNN vs LSTM, copy T = 1000
    python benchmarks/results/long_memory.py --target --target-problem adding --cells mingru-128 --budget 600
    python benchmarks/results/long_memory.py --curves                    # the gradient curves (PNG)

``--authors`` runs the EUNN authors' setup from the command line's flags instead (Jing et al. 2017's reference
code: copy at T = 1000, hidden 128, tunable layout of capacity 2, RMSProp at 1e-3 with decay 0.9, batches of 128,
5,000 iterations = 640k sequences), every cell at the same number of sequences, and reports the validation ratio
against sequences seen and the first point under 1% of the baseline (or with every sequence recalled):

    python benchmarks/results/long_memory.py --authors --cells eunn-128,lstm-128 --iterations 5000
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import HERE, parser, write  # noqa: E402

from rnnkit.tools.diagnostics import plot_curves, state_gradient_norms, stepping_cell  # noqa: E402
from rnnkit.models import RecurrentConfig  # noqa: E402
from rnnkit.tasks.memory import Memory, MemoryConfig  # noqa: E402

CELLS = {   # name -> the recurrent config (`rnnkit train memory --cell ... --hidden-size ...`)
    "eunn-128": dict(cell="eunn", hidden_size=128, capacity=2),
    "eunn-128-uniform": dict(cell="eunn", hidden_size=128, capacity=2, eunn_rotations="uniform"),   # authors' angles
    "mingru-128": dict(cell="mingru", hidden_size=128),
    "minlstm-128": dict(cell="minlstm", hidden_size=128),
    "lstm-40": dict(cell="lstm", hidden_size=40),
    "lstm-128": dict(cell="lstm", hidden_size=128),
    "lstm-128-chrono": dict(cell="lstm", hidden_size=128, chrono=-1),       # -1: the problem's T
    "gru-128": dict(cell="gru", hidden_size=128),
}
CURVE_CELLS = {"elman-128": dict(cell="elman", hidden_size=128), "lstm-128": CELLS["lstm-128"],
               "gru-128": CELLS["gru-128"], "eunn-128": CELLS["eunn-128"], "mingru-128": CELLS["mingru-128"]}


def make_task(problem: str, T: int, spec: dict, seed: int = 0, valid: int = 500) -> tuple[Memory, nn.Module]:
    spec = dict(spec)
    if spec.get("chrono") == -1:
        spec["chrono"] = T + 20 if problem == "copy" else T                   # the longest dependency
    task = Memory.prepare(MemoryConfig(problem=problem, lag=T, valid_size=valid), RecurrentConfig(**spec), None,
                          seed=seed)
    torch.manual_seed(seed)
    return task, task.build_model()


def train(task: Memory, model: nn.Module, budget: float, *, log_every: float = 0.0) -> dict:
    """Adam, batch 32, clip 1, until ``budget`` seconds of training have passed; then the validation ratio."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0, steps, curve, next_log = time.perf_counter(), 0, [], log_every
    while (elapsed := time.perf_counter() - t0) < budget:
        model.train()
        loss, _, _ = task.loss(model, task.train_batch(steps, 32), None)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps += 1
        if log_every and elapsed >= next_log:
            ratio = task.evaluate(model)["ratio"]
            curve.append((round(elapsed, 1), steps, round(ratio, 5)))
            print(f"  {elapsed:7.0f} s  step {steps:6d}  ratio {ratio:.4f}", flush=True)
            next_log += log_every
    metrics = task.evaluate(model)
    return {"steps": steps, "train_s": round(time.perf_counter() - t0, 1), **{k: round(v, 5) for k, v in
                                                                               metrics.items()}, "curve": curve}


def table(args) -> list[dict]:
    rows = []
    for problem in args.problems.split(","):
        for T in map(int, args.lengths.split(",")):
            for name in args.cells.split(","):
                task, model = make_task(problem, T, CELLS[name], valid=args.valid)
                row = {"problem": problem, "T": T, "cell": name,
                       "parameters": sum(p.numel() for p in model.parameters()),
                       **train(task, model, args.budget)}
                del row["curve"]
                rows.append(row)
                print(f"{problem:6s} T={T:5d} {name:16s} steps {row['steps']:6d}  ratio {row['ratio']:.4f}", flush=True)
    return rows


def target(args) -> list[dict]:
    """Long runs at one T (EUNN against LSTM on copy T = 1000: the source text's claim), the validation
    ratio logged over time."""
    rows = []
    for name in args.cells.split(","):
        print(name, flush=True)
        task, model = make_task(args.target_problem, args.target_lag, CELLS[name], valid=args.valid)
        rows.append({"problem": args.target_problem, "T": args.target_lag, "cell": name,
                     **train(task, model, args.budget, log_every=args.budget / 20)})
    return rows


AUTHORS = ["--optimizer", "rmsprop", "--rmsprop-alpha", "0.9", "--lr", "1e-3", "--batch-size", "128"]


def flags_of(spec: dict, lag: int) -> list[str]:
    """The `rnnkit train` flags of a CELLS entry."""
    out = []
    for key, value in spec.items():
        value = lag + 20 if key == "chrono" and value == -1 else value
        out += [f"--{key.replace('_', '-')}", str(value)]
    return out


def authors(args) -> list[dict]:
    """Each cell trained by `rnnkit train memory` with the authors' setup for ``--iterations`` updates; the
    validation ratio every ``iterations / 20`` updates, against sequences seen, from the run's metrics.csv."""
    import csv
    import subprocess
    import tempfile
    rows = []
    for name in args.cells.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            run = Path(tmp) / "run"
            cmd = [sys.executable, "-m", "rnnkit", "train", "memory", "--problem", "copy", "--lag",
                   str(args.target_lag), *flags_of(CELLS[name], args.target_lag), *AUTHORS,
                   "--max-steps", str(args.iterations), "--eval-every", str(max(1, args.iterations // 20)),
                   "--valid-size", str(args.valid), "--run", str(run)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip().splitlines()[-1:]}")
            with (run / "metrics.csv").open() as f:
                points = [(int(r["step"]) * 128, float(r["valid_ratio"]), float(r["valid_recalled"]))
                          for r in csv.DictReader(f) if r.get("valid_ratio")]
        solved = next((n for n, ratio, recalled in points if ratio < 0.01 or recalled >= 0.99), None)
        rows.append({"cell": name, "T": args.target_lag, "iterations": args.iterations, "wall_s":
                     round(time.perf_counter() - t0, 1), "command": " ".join(cmd[2:-2]),
                     "curve": [{"sequences": n, "ratio": r, "recalled": c} for n, r, c in points],
                     "ratio": points[-1][1], "recalled": points[-1][2], "solved_at_sequences": solved})
        print(f"{name}: ratio {points[-1][1]:.4f}, recalled {points[-1][2]:.3f}, solved at {solved}", flush=True)
    return rows


def curves(args) -> list[dict]:
    """||dL_T/ds_{T-k}|| on copy at initialisation and after ``budget`` seconds of training, per cell."""
    rows, figures = [], {}
    for name, spec in CURVE_CELLS.items():
        task, model = make_task("copy", args.curve_lag, spec, valid=args.valid)
        model.eval()
        x, loss_fn = task.late_loss(model, 64)
        at_init = state_gradient_norms(stepping_cell(model.runner), x, loss_fn)
        trained = train(task, model, args.budget)
        model.eval()
        x, loss_fn = task.late_loss(model, 64)
        after = state_gradient_norms(stepping_cell(model.runner), x, loss_fn)
        figures[f"{name}, initialisation"], figures[f"{name}, trained"] = at_init, after
        rows.append({"cell": name, "T": args.curve_lag, "ratio": trained["ratio"], "steps": trained["steps"],
                     "init": [float(v) for v in at_init], "trained": [float(v) for v in after]})
        print(f"{name}: ratio {trained['ratio']:.4f}; ||dL/ds|| init k=0 {float(at_init[0]):.3g} "
              f"k={len(at_init) - 1} {float(at_init[-1]):.3g}; trained {float(after[0]):.3g} {float(after[-1]):.3g}",
              flush=True)
    if not args.smoke:
        for when in ("initialisation", "trained"):
            plot_curves({k.split(",")[0]: v for k, v in figures.items() if k.endswith(when)},
                        HERE / f"long_memory_gradients_{when}.png",
                        title=f"copy, T = {args.curve_lag}: gradient of the last step's loss, {when}")
    return rows


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=45.0, help="training seconds per run")
    p.add_argument("--problems", default="copy,adding")
    p.add_argument("--lengths", default="100,200,500,1000")
    p.add_argument("--cells", default=",".join(CELLS))
    p.add_argument("--valid", type=int, default=500, help="validation sequences")
    p.add_argument("--target", action="store_true", help="only EUNN vs LSTM on copy at --target-lag")
    p.add_argument("--target-lag", type=int, default=1000)
    p.add_argument("--target-problem", choices=["copy", "adding"], default="copy")
    p.add_argument("--curves", action="store_true", help="only the gradient curves on copy at --curve-lag")
    p.add_argument("--curve-lag", type=int, default=100)
    p.add_argument("--authors", action="store_true", help="the EUNN authors' setup on copy at --target-lag, "
                   "through the command line, for --iterations updates of 128 sequences")
    p.add_argument("--iterations", type=int, default=5000)
    args = p.parse_args()
    if args.smoke:
        args.budget, args.lengths, args.valid, args.target_lag, args.curve_lag = 0.5, "12", 16, 12, 12
        args.iterations = 20
    if args.target and args.cells == ",".join(CELLS):
        args.cells = "eunn-128,lstm-128,lstm-128-chrono"
    started = time.perf_counter()
    torch.set_num_threads(torch.get_num_threads())
    if args.authors:
        if args.cells == ",".join(CELLS):
            args.cells = "eunn-128,lstm-128,mingru-128"
        write("long_memory_authors", args, {"setup": " ".join(AUTHORS), "rows": authors(args)}, started)
        return
    if args.target:
        name = "long_memory_target" + ("" if args.target_problem == "copy" else f"_{args.target_problem}")
        rows = target(args)
    elif args.curves:
        name, rows = "long_memory_curves", curves(args)
    else:
        name, rows = "long_memory", table(args)
    if args.smoke:
        rows += curves(args) if not args.curves else []
        args.cells = "eunn-128"
        rows += authors(args)
    write(name, args, {"budget_s": args.budget, "optimizer": "Adam lr 1e-3, batch 32, clip 1", "rows": rows},
          started)


if __name__ == "__main__":
    main()
