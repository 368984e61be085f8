"""The measurements that chose each cell's path (benchmarks/README.md): for one size, forward and
forward+backward time of the fused LSTM kernel against the generic autograd loop, per option,
interleaved, median of 7; and the cost of the per-step pieces (one recurrent matmul, one gate nonlinearity).

    python benchmarks/kernel_choice.py
"""
from __future__ import annotations

import statistics
import time

import torch

import rnnkit as rk
from rnnkit import kernels

B, T, D, H = 32, 128, 128, 256
OPTIONS = {"peepholes": dict(peepholes=True), "cell_clip": dict(cell_clip=1.0), "layer_norm": dict(layer_norm=True),
           "proj_size=128": dict(proj_size=128), "no forget gate": dict(forget_gate=False)}


def timed(fn, rounds: int = 7) -> float:
    fn()
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(B, T, D)
    print(f"B={B} T={T} D={D} H={H}; ms, median of 7")
    print(f"{'option':16s} {'fused fwd':>10s} {'generic fwd':>12s} {'fused f+b':>10s} {'generic f+b':>12s}")
    for name, kw in OPTIONS.items():
        cell = rk.LSTMCell(D, H, **kw)

        def fused(backward: bool):
            with torch.set_grad_enabled(backward):
                y, _ = kernels.run("fused-lstm", cell, x, None, cell.initial_state(B), False)
                if backward:
                    y.sum().backward()

        def generic(backward: bool):
            with torch.set_grad_enabled(backward), kernels.only_generic():
                y, _ = rk.unroll(cell, x)
                if backward:
                    y.sum().backward()

        row = [timed(lambda: fused(False)), timed(lambda: generic(False)), timed(lambda: fused(True)),
               timed(lambda: generic(True))]
        print(f"{name:16s} " + " ".join(f"{v * 1e3:10.1f}  " for v in row))
    a, h, W = torch.randn(B, 4 * H), torch.randn(B, H), torch.randn(H, 4 * H)
    mm = timed(lambda: [torch.addmm(a, h, W) for _ in range(100)]) / 100
    sg = timed(lambda: [torch.sigmoid(h) for _ in range(100)]) / 100
    print(f"one recurrent addmm ({B}x{H} @ {H}x{4 * H}): {mm * 1e6:.0f} us = {2 * B * H * 4 * H / mm / 1e9:.0f} GFLOP/s;"
          f" one sigmoid on ({B}, {H}): {sg * 1e6:.1f} us")
    lstm = torch.nn.LSTM(D, H, batch_first=True)
    ours = rk.from_torch(lstm)
    def fb(m):
        y, _ = m(x)
        y.sum().backward()
    print(f"plain LSTM fwd+bwd: torch.nn.LSTM {timed(lambda: fb(lstm)) * 1e3:.1f} ms, rnnkit (torch path) "
          f"{timed(lambda: fb(ours)) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
