"""EUNN recipe probe on the copy problem: one cell, one optimiser, a time budget, the training loss
over the no-memory baseline every 100 steps (single-threaded, so two probes can run side by side).

    python benchmarks/eunn_recipe.py --layout capacity2 --optimizer adam --lr 1e-3 --budget 200
    python benchmarks/eunn_recipe.py --layout capacity2 --optimizer adam --lr 1e-3 --budget 200 --input-init linear

Inputs are one-hot symbols, the output a linear map of [Re h, Im h]; batch 32, clip 1, T = --lag.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

import rnnkit as rk
from rnnkit.data import memory


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layout", choices=["capacity2", "fft"], default="capacity2")
    p.add_argument("--optimizer", choices=["adam", "rmsprop"], default="adam")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lag", type=int, default=100)
    p.add_argument("--budget", type=float, default=200.0)
    p.add_argument("--input-init", choices=["small", "linear"], default="small",
                   help="small: U(-0.01, 0.01) (the authors' code, rnnkit's default); linear: U(-1/sqrt(D), 1/sqrt(D))")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cell = rk.EUNNCell(10, 128, capacity=2) if args.layout == "capacity2" else rk.EUNNCell(10, 128, fft=True)
    if args.input_init == "linear":
        nn.init.uniform_(cell.weight_ih, -10 ** -0.5, 10 ** -0.5)
    head = nn.Linear(cell.output_size, 9)
    params = list(cell.parameters()) + list(head.parameters())
    opt = (torch.optim.Adam(params, lr=args.lr) if args.optimizer == "adam"
           else torch.optim.RMSprop(params, lr=args.lr, alpha=0.9))
    g = torch.Generator().manual_seed(0)
    baseline = memory.copy_baseline(args.lag)
    t0, step = time.perf_counter(), 0
    while time.perf_counter() - t0 < args.budget:
        x, y = memory.copy_batch(32, args.lag, g)
        out = head(rk.unroll(cell, F.one_hot(x, 10).float())[0])
        loss = F.cross_entropy(out.reshape(-1, 9), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            print(f"step {step:5d}  {time.perf_counter() - t0:5.0f} s  training loss / baseline {loss.item() / baseline:.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
