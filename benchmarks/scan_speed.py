"""Training time per step (forward + backward) of the scan cells against rnnkit's GRU and LSTM.

    python benchmarks/scan_speed.py                 # T = 256, 1024, 4096; JSON to benchmarks/scan_speed.json
    python benchmarks/scan_speed.py --smoke

Same B, D, H for every cell; ``y.sum()`` backward; interleaved rounds in one process, median.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import torch

import rnnkit as rk
from rnnkit import kernels
from rnnkit.tools.timing import interleaved

CELLS = {"mingru": rk.MinGRUCell, "minlstm": rk.MinLSTMCell, "gru": rk.GRUCell, "lstm": rk.LSTMCell,
         "eunn": rk.EUNNCell,          # EUNN: H complex units (2H real numbers of state), capacity 2
         "eunn_pytorch": rk.EUNNCell}  # the same on its PyTorch-ops path (where the compiled kernels are absent)


def step(cell, x, name=""):
    with kernels.without_native() if name.endswith("_pytorch") else contextlib.nullcontext():
        y, _ = rk.unroll(cell, x)
        y.sum().backward()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", default="256,1024,4096")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--input", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default="benchmarks/scan_speed.json")
    args = parser.parse_args()
    if args.smoke:
        args.lengths, args.rounds = "32", 1
    torch.manual_seed(0)
    rows = []
    for T in map(int, args.lengths.split(",")):
        x = torch.randn(args.batch, T, args.input)
        # the PyTorch-ops EUNN path is measured up to T = 1024 only (at 4096 one call takes minutes)
        cells = {n: c(args.input, args.hidden) for n, c in CELLS.items() if T <= 1024 or not n.endswith("_pytorch")}
        med = interleaved({n: (lambda c=c, n=n: step(c, x, n)) for n, c in cells.items()}, args.rounds)
        row = {"T": T, "B": args.batch, "D": args.input, "H": args.hidden,
               "paths": {n: (kernels.path_for(c, x) if not n.endswith("_pytorch") else "eunn") for n, c in cells.items()},
               "ms": {n: round(1e3 * v, 2) for n, v in med.items()},
               "gru_over_mingru": round(med["gru"] / med["mingru"], 2),
               "lstm_over_minlstm": round(med["lstm"] / med["minlstm"], 2)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    Path(args.out).write_text(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                                          "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
