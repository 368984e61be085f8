"""The measurements that chose each cell's path (benchmarks/README.md): at one size, forward+backward
time of the compiled kernel ("native"), the pure-PyTorch explicit-BPTT kernel ("fused", the fallback)
and the generic autograd loop, per option, against torch.nn.LSTM; interleaved round by round, median.

    python benchmarks/kernel_choice.py [--rounds 7] [--size 32,128,128,256]

``--lengths``: how forward+backward time grows with T for variable lengths (uniform in [T/10, T]) for
the plain LSTM, GRU and Elman cells: rnnkit with the lengths, rnnkit without them, and torch.nn.LSTM /
GRU / RNN on a ``pack_padded_sequence``; CPU seconds (``time.process_time``) on one thread,
interleaved, median; JSON to ``benchmarks/kernel_choice_lengths.json``.

    python benchmarks/kernel_choice.py --lengths [--rounds 3] [--steps 500,1000,2000,4000] [--packed-max-steps 2000]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import rnnkit as rk
from rnnkit import kernels
from rnnkit.kernels import native
from rnnkit.tools.bench import length_impls as bench_length_impls
from rnnkit.kernels.torch_rnn import route

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


LENGTH_CELLS = {
    "lstm": (lambda D, H: rk.LSTMCell(D, H), lambda D, H: torch.nn.LSTM(D, H, batch_first=True)),
    "gru": (lambda D, H: rk.GRUCell(D, H), lambda D, H: torch.nn.GRU(D, H, batch_first=True)),
    "elman": (lambda D, H: rk.ElmanCell(D, H), lambda D, H: torch.nn.RNN(D, H, batch_first=True)),
}


def cpu_interleaved(impls: dict, rounds: int) -> dict[str, list[float]]:
    """CPU seconds (``time.process_time``) of every call, implementations interleaved round by round."""
    times = {k: [] for k in impls}
    for _ in range(rounds):
        for k, f in impls.items():
            t = time.process_time()
            f()
            times[k].append(time.process_time() - t)
    return times


def length_impls(name: str, B: int, T: int, D: int, H: int, packed: bool = True):
    """(rnnkit runner, inputs, lengths, {implementation: forward+backward}) for one cell and size."""
    make, make_peer = LENGTH_CELLS[name]
    return bench_length_impls(make, make_peer, B, T, D, H, packed)


def variable_lengths(args) -> None:
    """Forward+backward CPU time against T with variable lengths (module docstring)."""
    torch.set_num_threads(1)
    B, D, H = (int(v) for v in args.lengths_size.split(","))
    steps = [int(v) for v in args.steps.split(",")]
    cells = [c for c in args.cells.split(",") if c]
    print(f"B={B} D={D} H={H}, lengths uniform in [T/10, T]; forward+backward CPU s (process_time), median of "
          f"{args.rounds}; torch {torch.__version__}, {torch.get_num_threads()} thread; compiled kernels: "
          f"{native.status()}", flush=True)
    for name in cells:                          # warm-up at a small T: loading the kernels, first allocations
        for f in length_impls(name, B, 20, D, H)[3].values():
            f()
    print(f"{'cell':6s} {'T':>5s} {'route':>12s} {'lengths':>8s} {'full':>8s} {'packed':>8s}  lengths/full  "
          f"lengths/packed", flush=True)
    rows = []
    for T in steps:
        for name in cells:
            ours, x, lengths, impls = length_impls(name, B, T, D, H, packed=T <= args.packed_max_steps)
            times = cpu_interleaved(impls, args.rounds)
            med = {key: statistics.median(v) for key, v in times.items()}
            path = kernels.path_for(ours.cell, x)
            over_packed = med["rnnkit_lengths"] / med["torch_packed"] if "torch_packed" in med else None
            row = {"cell": name, "B": B, "T": T, "D": D, "H": H, "path": path,
                   "route_with_lengths": route(ours.cell, x, lengths) if path == "torch" else path,
                   "mean_length": float(lengths.float().mean()), "cpu_s": times, "median_cpu_s": med,
                   "lengths_over_full": med["rnnkit_lengths"] / med["rnnkit_full"], "lengths_over_packed": over_packed}
            rows.append(row)
            packed_s = f"{med['torch_packed']:8.3f}" if "torch_packed" in med else f"{'-':>8s}"
            over_packed = f"{row['lengths_over_packed']:.4f}" if row["lengths_over_packed"] else "-"
            print(f"{name:6s} {T:5d} {row['route_with_lengths']:>12s} {med['rnnkit_lengths']:8.3f} "
                  f"{med['rnnkit_full']:8.3f} {packed_s}  {row['lengths_over_full']:12.2f}  {over_packed:>14s}",
                  flush=True)
            out = {"what": "forward+backward CPU seconds with lengths uniform in [T/10, T]", "rounds": args.rounds,
                   "threads": torch.get_num_threads(), "torch": torch.__version__, "platform": platform.platform(),
                   "compiled_kernels": native.status(), "packed_max_steps": args.packed_max_steps, "rows": rows}
            Path(args.out).write_text(json.dumps(out, indent=2) + "\n")     # after every row: a long run keeps its rows
    print(f"wrote {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 7; 3 with --lengths)")
    parser.add_argument("--size", default="32,128,128,256", help="B,T,D,H")
    parser.add_argument("--lengths", action="store_true", help="instead: variable lengths against T (docstring)")
    parser.add_argument("--lengths-size", default="32,128,128", help="B,D,H for --lengths")
    parser.add_argument("--steps", default="500,1000,2000,4000", help="the T values for --lengths")
    parser.add_argument("--cells", default="lstm,gru,elman", help="for --lengths: from lstm, gru, elman")
    parser.add_argument("--packed-max-steps", type=int, default=2000,
                        help="for --lengths: time torch's packed op only up to this T (its backward grows faster)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "kernel_choice_lengths.json"),
                        help="JSON file for --lengths")
    args = parser.parse_args()
    if args.lengths:
        args.rounds = args.rounds or 3
        return variable_lengths(args)
    args.rounds = args.rounds or 7
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
