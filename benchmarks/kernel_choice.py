"""The measurements that chose each cell's path (benchmarks/README.md): at one size, forward+backward
time of the compiled kernel ("native"), the pure-PyTorch explicit-BPTT kernel ("fused", the fallback)
and the generic autograd loop, per option, against torch.nn.LSTM; interleaved round by round, median.

    python benchmarks/kernel_choice.py [--rounds 7] [--size 32,128,128,256]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import rnnkit as rk
from rnnkit import kernels

CELLS = {
    "lstm peepholes": lambda D, H: rk.LSTMCell(D, H, peepholes=True),
    "lstm cell_clip": lambda D, H: rk.LSTMCell(D, H, cell_clip=1.0),
    "lstm layer_norm": lambda D, H: rk.LSTMCell(D, H, layer_norm=True),
    "lstm proj_size=H/2": lambda D, H: rk.LSTMCell(D, H, proj_size=H // 2),
    "lstm no forget gate": lambda D, H: rk.LSTMCell(D, H, forget_gate=False),
    "lstm var. dropout": lambda D, H: rk.Dropout(rk.LSTMCell(D, H), input_p=0.25, state_p=0.25, variational=True),
    "lstm zoneout": lambda D, H: rk.Zoneout(rk.LSTMCell(D, H), p=0.1),
    "gru layer_norm": lambda D, H: rk.GRUCell(D, H, layer_norm=True),
    "gru reset before": lambda D, H: rk.GRUCell(D, H, reset_after=False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--size", default="32,128,128,256", help="B,T,D,H")
    args = parser.parse_args()
    B, T, D, H = (int(v) for v in args.size.split(","))
    torch.manual_seed(0)
    x = torch.randn(B, T, D)
    lstm = torch.nn.LSTM(D, H, batch_first=True)
    print(f"B={B} T={T} D={D} H={H}; forward+backward ms, median of {args.rounds}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'cell':20s} {'native':>8s} {'fused':>8s} {'generic':>8s} {'nn.LSTM':>8s}  native/nn.LSTM")
    for name, make in CELLS.items():
        cell = make(D, H)
        native_path = kernels.path_for(cell, x)

        def native():
            y, _ = kernels.run(native_path, cell, x, None, cell.initial_state(B), False)
            y.sum().backward()

        def fused():
            y, _ = kernels.run("fused-lstm", cell, x, None, cell.initial_state(B), False)
            y.sum().backward()

        def generic():
            with kernels.only_generic():
                y, _ = rk.unroll(cell, x)
            y.sum().backward()

        def torch_lstm():
            y, _ = lstm(x)
            y.sum().backward()

        impls = {"native": native, "fused": fused if type(cell).__name__ == "LSTMCell" else None,
                 "generic": generic, "nn.LSTM": torch_lstm}
        impls = {k: f for k, f in impls.items() if f is not None}
        times = {k: [] for k in impls}
        for f in impls.values():
            f()
        for _ in range(args.rounds):
            for k, f in impls.items():
                t = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        cols = " ".join(f"{med[k]:8.1f}" if k in med else f"{'-':>8s}" for k in ("native", "fused", "generic", "nn.LSTM"))
        print(f"{name:20s} {cols}  {med['native'] / med['nn.LSTM']:.2f}", flush=True)


if __name__ == "__main__":
    main()
