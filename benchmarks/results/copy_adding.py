"""Long-range memory: the copy and adding problems (Arjovsky et al. 2016, the unitary-RNN paper family
the ML@B slides cites with EUNN), for T in {50, 100, 200, 400}, Elman, GRU and LSTM with 40 units.

Copy: 10 symbols from {1..8}, T-1 blanks, a delimiter, 10 blanks; the model must output blanks and
then the 10 symbols. No-memory baseline: cross-entropy 10 log(8) / (T + 20). Adding: T steps of
(value in U(0,1), marker), two markers; the target is the sum of the two marked values; baseline MSE
0.167 (always answering 1). Each run trains with Adam (lr 1e-3, batch 32, clip 1) for a fixed time
budget and reports the final loss on 500 fresh sequences.

    python benchmarks/results/copy_adding.py --budget 30
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import parser, write  # noqa: E402

from rnnkit.data import memory  # noqa: E402
from rnnkit.models import RecurrentConfig, build_runner  # noqa: E402


def copy_batch(B: int, T: int, g: torch.Generator):
    x, y = memory.copy_batch(B, T, g)
    return F.one_hot(x, 10).float(), y


adding_batch = memory.adding_batch


class Net(nn.Module):
    def __init__(self, cell: str, d_in: int, d_out: int):
        super().__init__()
        self.runner = build_runner(RecurrentConfig(cell=cell, hidden_size=40), d_in)
        self.head = nn.Linear(40, d_out)

    def forward(self, x):
        return self.head(self.runner(x)[0])


def run(problem: str, cell: str, T: int, budget: float) -> dict:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    net = Net(cell, 10 if problem == "copy" else 2, 10 if problem == "copy" else 1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch = copy_batch if problem == "copy" else adding_batch

    def loss_of(x, y):
        out = net(x)
        if problem == "copy":
            return F.cross_entropy(out.transpose(1, 2), y)
        return F.mse_loss(out[:, -1], y)

    t0, steps = time.perf_counter(), 0
    while time.perf_counter() - t0 < budget:
        loss = loss_of(*batch(32, T, g))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        steps += 1
    with torch.no_grad():
        test = loss_of(*batch(500, T, torch.Generator().manual_seed(99))).item()
    baseline = 10 * math.log(8) / (T + 20) if problem == "copy" else 0.167
    return {"problem": problem, "cell": cell, "T": T, "steps": steps, "test_loss": test, "baseline": baseline,
            "beats_baseline": test < baseline}


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=30.0, help="training seconds per run")
    args = p.parse_args()
    Ts = [50, 100, 200, 400]
    if args.smoke:
        args.budget, Ts = 0.5, [10]
    started = time.perf_counter()
    rows = []
    for problem in ("copy", "adding"):
        for T in Ts:
            for cell in ("elman", "gru", "lstm"):
                rows.append(run(problem, cell, T, args.budget))
                print(rows[-1], flush=True)
    write("copy_adding", args, {"budget_s": args.budget, "hidden": 40, "rows": rows}, started)


if __name__ == "__main__":
    main()
