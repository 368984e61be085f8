"""``rnnkit bench``: forward+backward time of rnnkit's cells against torch.nn and a plain PyTorch loop,
and batch-1 generation speed; figures as ratios to torch.nn.LSTM and as fractions of this machine's
own matmul throughput and memory bandwidth, measured in the same run.

Method: every implementation of one (cell, size) is timed in one process, interleaved round by
round (A B C A B C ...), after a warm-up; the median of the rounds is reported. "plain loop" is the
same rnnkit cell stepped by the generic autograd loop (``kernels.only_generic``), i.e. what a user
gets writing the loop by hand. Peak memory is the growth of the resident-set high-water mark
(``VmHWM``) of a fresh subprocess running one forward+backward, at the largest size only (Linux).
The generation limit: weight bytes per token over the measured copy bandwidth.

GEMM rates, per training row, measured in the same interleaved rounds as the implementations: the
rate rnnkit's run reaches (its matrix-product FLOPs over its time), the rate of the recurrence's
per-step product alone (T products of (B, H) by (H, G*H)) with ``torch.mm`` and with the compiled loops'
own step kernel on one thread, and the machine's sgemm rate (a 1024^3 float32 ``torch.mm``).
``--threads N`` sets torch's thread count first: on a machine shared with other work, one thread per
process measures each implementation's own cost, while with two threads every per-step barrier (torch's
fused op has them; rnnkit's compiled loops do not) waits whenever the other core is taken.

``--baseline-ref REF`` builds the compiled kernels of git revision REF (or of a folder holding a copy of
``csrc/``) as a second extension and adds an implementation ``rnnkit_baseline``: the same rnnkit code and
cell running REF's kernels, interleaved with this build's (``native.substituted``), so a change to
``csrc/`` is timed against what it replaced in one process. REF's entry points must take the arguments
this revision's ``ops.py`` passes.

Variable lengths (``--lengths``, or ``--lengths-sizes``): a plain LSTM over sequences with lengths
uniform in [T/10, T], forward+backward, rnnkit with the lengths, rnnkit without them and
torch.nn.LSTM on a ``pack_padded_sequence``, to T = 4000 by default; wall and CPU seconds
(``time.process_time``, all threads), interleaved, median. torch's packed op's backward on the CPU
grows faster than T (163 s of CPU at T = 2000 on one thread of the development machine, against 1.8 s
for rnnkit), so these rows are opt-in and take over an hour at the default sizes and 5 rounds, nearly
all of it torch's packed op at T = 4000; ``--packed-max-steps 2000`` leaves it out above T = 2000.
"""
from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from .. import kernels
from ..kernels import native
from ..cells import Dropout, ElmanCell, GRUCell, LSTMCell, Stack, Zoneout
from ..runners import RNN
from .timing import interleaved

SIZES = [(32, 128, 128, 256), (64, 100, 64, 128), (16, 512, 256, 512), (1, 1000, 64, 64)]
LENGTH_SIZES = [(32, 500, 128, 128), (32, 1000, 128, 128), (32, 2000, 128, 128), (32, 4000, 128, 128)]
CELLS = ["lstm", "gru", "elman", "lstm_layer_norm", "lstm_peepholes", "lstm_variational_dropout", "lstm_zoneout",
         "gru_layer_norm"]


def make_cell(name: str, D: int, H: int) -> nn.Module:
    return {
        "lstm": lambda: LSTMCell(D, H),
        "gru": lambda: GRUCell(D, H),
        "elman": lambda: ElmanCell(D, H),
        "lstm_layer_norm": lambda: LSTMCell(D, H, layer_norm=True),
        "lstm_peepholes": lambda: LSTMCell(D, H, peepholes=True),
        "lstm_variational_dropout": lambda: Dropout(LSTMCell(D, H), input_p=0.25, state_p=0.25, variational=True),
        "lstm_zoneout": lambda: Zoneout(LSTMCell(D, H), p=0.1),
        "gru_layer_norm": lambda: GRUCell(D, H, layer_norm=True),
    }[name]()


def torch_peer(name: str, D: int, H: int) -> nn.Module:
    """The torch.nn module a user would compare with: nn.GRU for GRU, nn.RNN for Elman, else nn.LSTM."""
    if name.startswith("gru"):
        return nn.GRU(D, H, batch_first=True)
    if name == "elman":
        return nn.RNN(D, H, batch_first=True)
    return nn.LSTM(D, H, batch_first=True)


def gate_count(name: str) -> int:
    """G: the gates whose pre-activations the products make (4 for an LSTM, 3 for a GRU, 1 for Elman)."""
    return 3 if name.startswith("gru") else {"elman": 1}.get(name, 4)


def matmul_flops(name: str, B: int, T: int, D: int, H: int) -> float:
    """Matrix-product FLOPs of forward + backward (3x the forward's 2*B*T*(D+H)*G*H)."""
    return 3 * 2 * B * T * (D + H) * gate_count(name) * H


def gemm_probes(name: str, B: int, T: int, H: int) -> dict:
    """Products timed beside each row, with their FLOPs: ``step_gemm``, the recurrence's per-step product
    (B, H) @ (H, G*H) T times with ``torch.mm``; ``step_kernel``, the same T products on one thread by the
    compiled loops' own kernel (each thread of a compiled loop runs it on its share of the B rows; absent
    without the compiled kernels); ``sgemm``, one 1024^3 float32 product."""
    h, w = torch.randn(B, H), torch.randn(H, gate_count(name) * H)
    out = torch.empty(B, w.shape[1])
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    flops = 2 * T * B * H * w.shape[1]

    def step_gemm():
        for _ in range(T):
            torch.mm(h, w, out=out)

    probes = {"step_gemm": (step_gemm, flops), "sgemm": (lambda: a @ b, 2 * 1024 ** 3)}
    module = native.load()
    if module is not None and hasattr(module, "step_product"):
        probes["step_kernel"] = (lambda: module.step_product(h, w, T), flops)
    return probes


def baseline_kernels(ref: str):
    """(module, label): the compiled kernels of git revision ``ref`` (or of a folder ``ref`` holding a copy of
    ``csrc/``), its ``rnnkit/kernels/csrc`` built as a second extension module (``native.build_copy``, cached by
    its sources), and what was built (the folder, or the revision's commit)."""
    if Path(ref).is_dir():
        return native.build_copy(Path(ref), "rnnkit_native_baseline"), str(Path(ref).resolve())
    root = Path(__file__).resolve().parent.parent
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", ref], capture_output=True, text=True,
                            check=True).stdout.strip()
    archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", commit, "rnnkit/kernels/csrc"],
                             capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory(prefix="rnnkit-baseline-") as folder, \
            tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
        module = native.build_copy(Path(folder) / "rnnkit" / "kernels" / "csrc", "rnnkit_native_baseline")
    return module, f"{ref} = {commit}"


def measure_machine() -> dict:
    """This machine's matmul throughput (GFLOP/s, 1024^3 float32) and copy bandwidth (GB/s, 256 MB)."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(10):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    gflops = 2 * 1024 ** 3 / statistics.median(times) / 1e9
    src = torch.randn(64 * 1024 * 1024)
    dst = torch.empty_like(src)
    dst.copy_(src)
    times = []
    for _ in range(10):
        t = time.perf_counter()
        dst.copy_(src)
        times.append(time.perf_counter() - t)
    gbs = 2 * src.numel() * 4 / statistics.median(times) / 1e9   # read + write
    return {"matmul_gflops": gflops, "copy_gbs": gbs}


def _train_step(module: nn.Module, x: torch.Tensor, generic: bool) -> None:
    if generic:
        with kernels.only_generic():
            y, _ = module(x)
    else:
        y, _ = module(x)
    y.sum().backward()


def time_training(name: str, size: tuple, rounds: int, machine: dict, baseline=None) -> dict:
    """One training row: forward+backward of every implementation and the GEMM probes, interleaved.
    ``baseline``: another build of the kernels (``baseline_kernels``), timed as ``rnnkit_baseline``."""
    B, T, D, H = size
    torch.manual_seed(0)
    x = torch.randn(B, T, D)
    impls = {"rnnkit": (RNN(make_cell(name, D, H)), False), "plain_loop": (RNN(make_cell(name, D, H)), True),
             "torch_nn": (torch_peer(name, D, H), False)}
    if name != "lstm":
        impls["torch_nn_lstm"] = (nn.LSTM(D, H, batch_first=True), False)
    calls = {k: (lambda m=m, generic=generic: _train_step(m, x, generic)) for k, (m, generic) in impls.items()}
    if baseline is not None:
        def run_baseline(m=impls["rnnkit"][0]):
            with native.substituted(baseline):
                _train_step(m, x, False)
        calls = {"rnnkit": calls.pop("rnnkit"), "rnnkit_baseline": run_baseline, **calls}
    probes = gemm_probes(name, B, T, H)
    timed = interleaved({**calls, **{k: f for k, (f, _) in probes.items()}}, rounds)
    med = {k: timed[k] for k in calls}
    lstm_time = med.get("torch_nn_lstm", med["torch_nn"])
    flops = matmul_flops(name, B, T, D, H)
    return {"cell": name, "B": B, "T": T, "D": D, "H": H, "path": kernels.path_for(impls["rnnkit"][0].cell, x),
            "median_s": med, "ratio_to_torch_nn_lstm": {k: v / lstm_time for k, v in med.items()},
            "ratio_to_torch_peer": med["rnnkit"] / med["torch_nn"],
            "matmul_fraction": {k: flops / v / 1e9 / machine["matmul_gflops"] for k, v in med.items()},
            "gflops": {**{k: flops / v / 1e9 for k, v in med.items()},
                       **{k: f / timed[k] / 1e9 for k, (_, f) in probes.items()}}}


def _wall_and_cpu(impls: dict, rounds: int) -> dict[str, dict[str, float]]:
    """Median wall and CPU seconds per call, implementations interleaved round by round after a warm-up."""
    times = {k: {"wall": [], "cpu": []} for k in impls}
    for f in impls.values():
        f()
    for _ in range(rounds):
        for k, f in impls.items():
            wall, cpu = time.perf_counter(), time.process_time()
            f()
            times[k]["cpu"].append(time.process_time() - cpu)
            times[k]["wall"].append(time.perf_counter() - wall)
    return {k: {kind: statistics.median(v) for kind, v in t.items()} for k, t in times.items()}


def length_impls(make, make_peer, B: int, T: int, D: int, H: int, packed: bool = True):
    """(rnnkit runner, inputs, lengths, {implementation: forward+backward}) for the cell ``make(D, H)`` over lengths
    uniform in [T/10, T]: rnnkit with and without the lengths, and the torch.nn peer ``make_peer(D, H)`` on a packed
    sequence (when ``packed``)."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    g = torch.Generator().manual_seed(T)
    x = torch.randn(B, T, D, generator=g)
    lengths = torch.randint(max(T // 10, 1), T + 1, (B,), generator=g)
    torch.manual_seed(0)
    ours, peer = RNN(make(D, H)), make_peer(D, H)

    def with_lengths():
        y, _ = ours(x, lengths)
        y.sum().backward()

    def full():
        y, _ = ours(x)
        y.sum().backward()

    def torch_packed():
        y, _ = peer(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        y, _ = pad_packed_sequence(y, batch_first=True, total_length=T)
        y.sum().backward()

    impls = {"rnnkit_lengths": with_lengths, "rnnkit_full": full}
    if packed:
        impls["torch_packed"] = torch_packed
    return ours, x, lengths, impls


def time_lengths(size: tuple, rounds: int, packed_max_steps: int | None = None) -> dict:
    """A plain LSTM over variable lengths (uniform in [T/10, T]): rnnkit with and without the lengths,
    torch.nn.LSTM on a packed sequence (left out above ``packed_max_steps``)."""
    from ..kernels.torch_rnn import route
    B, T, D, H = size
    ours, x, lengths, impls = length_impls(LSTMCell, lambda d, h: nn.LSTM(d, h, batch_first=True), B, T, D, H,
                                           packed=packed_max_steps is None or T <= packed_max_steps)
    med = _wall_and_cpu(impls, rounds)
    path = kernels.path_for(ours.cell, x)
    cpu = {k: v["cpu"] for k, v in med.items()}
    return {"cell": "lstm", "B": B, "T": T, "D": D, "H": H, "mean_length": float(lengths.float().mean()),
            "path": path, "route_with_lengths": route(ours.cell, x, lengths) if path == "torch" else path,
            "median_s": {k: v["wall"] for k, v in med.items()}, "median_cpu_s": cpu,
            "cpu_ratio_to_full": cpu["rnnkit_lengths"] / cpu["rnnkit_full"],
            "cpu_ratio_to_torch_packed": cpu["rnnkit_lengths"] / cpu["torch_packed"] if "torch_packed" in cpu else None}


def time_generation(rounds: int, machine: dict, layers: int = 3, H: int = 512, tokens: int = 200) -> dict:
    """Tokens per second at batch 1 stepping a layers x H LSTM one token at a time."""
    torch.manual_seed(0)
    lstm = nn.LSTM(H, H, num_layers=layers, batch_first=True)
    cells = nn.ModuleList([nn.LSTMCell(H, H) for _ in range(layers)])
    from .interop import from_torch
    ours = Stack([layer.fw if hasattr(layer, "fw") else layer.cell for layer in from_torch(lstm).layers])
    x = torch.randn(1, H)

    @torch.no_grad()
    def run_ours():
        s = ours.initial_state(1)
        y = x
        for _ in range(tokens):
            y, s = ours(x, s)

    @torch.no_grad()
    def run_lstm():
        hx = None
        for _ in range(tokens):
            _, hx = lstm(x.view(1, 1, H), hx)

    @torch.no_grad()
    def run_cells():
        hs = [(torch.zeros(1, H), torch.zeros(1, H)) for _ in range(layers)]
        for _ in range(tokens):
            inp = x
            for k, cell in enumerate(cells):
                hs[k] = cell(inp, hs[k])
                inp = hs[k][0]

    impls = {"rnnkit": run_ours, "torch_nn_lstm": run_lstm, "torch_nn_lstmcell": run_cells}
    per_token = {k: v / tokens for k, v in interleaved(impls, rounds).items()}
    weight_bytes = sum(p.numel() * p.element_size() for p in lstm.parameters())
    limit = machine["copy_gbs"] * 1e9 / weight_bytes          # weight bytes per token over copy bandwidth
    return {"layers": layers, "H": H, "weight_bytes": weight_bytes,
            "tokens_per_s": {k: 1 / v for k, v in per_token.items()},
            "bandwidth_limit_tokens_per_s": limit,
            "fraction_of_bandwidth_limit": {k: 1 / v / limit for k, v in per_token.items()},
            "speedup_vs_torch_nn_lstm": per_token["torch_nn_lstm"] / per_token["rnnkit"]}


def peak_memory(name: str, size: tuple, impl: str) -> float:
    """MB the resident set grows by during one forward+backward, in a fresh subprocess."""
    code = f"""
import re, torch
from rnnkit.tools.bench import make_cell, torch_peer, _train_step
from rnnkit.runners import RNN
B, T, D, H = {size}
x = torch.randn(B, T, D)
m = {"torch_peer(%r, D, H)" % name if impl == "torch_nn" else "RNN(make_cell(%r, D, H))" % name}
def high_water_kb():  # VmHWM: per address space, so not inherited from the parent as ru_maxrss is
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
before = high_water_kb()
_train_step(m, x, {impl == "plain_loop"})
print((high_water_kb() - before) / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def format_table(result: dict) -> str:
    base = any("rnnkit_baseline" in r["median_s"] for r in result["training"])
    lines = ["| cell | B×T×D×H | path | rnnkit ms | " + ("baseline ms | " if base else "") + "plain loop ms | "
             "torch.nn ms | rnnkit / torch.nn.LSTM | " + ("baseline / torch.nn.LSTM | " if base else "")
             + "rnnkit / torch peer | rnnkit matmul fraction | rnnkit GFLOP/s | step GEMM GFLOP/s | "
             "step kernel GFLOP/s | sgemm GFLOP/s |", "|---" * (13 + 2 * base) + "|"]
    if not result["training"]:
        lines = []
    for r in result["training"]:
        m, g, ratio = r["median_s"], r.get("gflops", {}), r["ratio_to_torch_nn_lstm"]
        rate = " | ".join(f"{g[k]:.1f}" if k in g else "—" for k in ("rnnkit", "step_gemm", "step_kernel", "sgemm"))
        lines.append(f"| {r['cell']} | {r['B']}×{r['T']}×{r['D']}×{r['H']} | {r['path']} | {m['rnnkit'] * 1e3:.1f} | "
                     + (f"{m['rnnkit_baseline'] * 1e3:.1f} | " if base else "")
                     + f"{m['plain_loop'] * 1e3:.1f} | {m['torch_nn'] * 1e3:.1f} | {ratio['rnnkit']:.2f} | "
                     + (f"{ratio['rnnkit_baseline']:.2f} | " if base else "")
                     + f"{r['ratio_to_torch_peer']:.2f} | {r['matmul_fraction']['rnnkit']:.2f} | {rate} |")
    if result.get("lengths"):
        lines += [""] if lines else []
        lines += ["| LSTM, lengths uniform in [T/10, T] | B×T×D×H | route | rnnkit CPU s | rnnkit, no lengths | "
                  "nn.LSTM + packed | rnnkit / no lengths | rnnkit / nn.LSTM packed |", "|---" * 8 + "|"]
        for r in result["lengths"]:
            c = r["median_cpu_s"]
            packed = f"{c['torch_packed']:.3f}" if "torch_packed" in c else "—"
            ratio = f"{r['cpu_ratio_to_torch_packed']:.3f}" if r["cpu_ratio_to_torch_packed"] is not None else "—"
            lines.append(f"| {r['cell']} | {r['B']}×{r['T']}×{r['D']}×{r['H']} | {r['route_with_lengths']} | "
                         f"{c['rnnkit_lengths']:.3f} | {c['rnnkit_full']:.3f} | {packed} | "
                         f"{r['cpu_ratio_to_full']:.2f} | {ratio} |")
    g = result.get("generation")
    if g:
        lines += ["", f"| generation, batch 1, {g['layers']}×{g['H']} LSTM | tokens/s | fraction of bandwidth limit "
                  f"({g['bandwidth_limit_tokens_per_s']:.0f} tokens/s) |", "|---|---|---|"]
        for k, v in g["tokens_per_s"].items():
            lines.append(f"| {k} | {v:.0f} | {g['fraction_of_bandwidth_limit'][k]:.2f} |")
    if result.get("peak_memory_mb"):
        lines += ["", "| peak memory growth, one forward+backward at the largest size | MB |", "|---|---|"]
        lines += [f"| {k} | {v:.0f} |" for k, v in result["peak_memory_mb"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    if "--export" in (argv if argv is not None else sys.argv[1:]):
        from ..export.bench import main as export_main      # exported models in onnxruntime (export/bench.py)
        return export_main(argv)
    parser = argparse.ArgumentParser(prog="rnnkit bench", description=__doc__.split("\n")[0])
    parser.add_argument("--cells", default=",".join(CELLS), help=f"comma-separated, from {CELLS}")
    parser.add_argument("--sizes", default=";".join(",".join(map(str, s)) for s in SIZES),
                        help="B,T,D,H;B,T,D,H;... (default: the four sizes of benchmarks/README.md)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per configuration (median)")
    parser.add_argument("--no-generation", action="store_true", help="skip the batch-1 generation benchmark")
    parser.add_argument("--memory", action="store_true", help="measure peak memory at the largest size (subprocesses)")
    parser.add_argument("--out", default="benchmarks/results.json", help="JSON file to write")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 2 rounds: a smoke run")
    parser.add_argument("--lengths", action="store_true",
                        help="also the variable-length rows (LSTM against nn.LSTM + pack_padded_sequence; long)")
    parser.add_argument("--lengths-sizes", default=None,
                        help="B,T,D,H;... for the variable-length rows (implies --lengths; default "
                             + ";".join(",".join(map(str, s)) for s in LENGTH_SIZES) + ")")
    parser.add_argument("--packed-max-steps", type=int, default=None,
                        help="variable-length rows: time nn.LSTM's packed op only up to this T")
    parser.add_argument("--threads", type=int, default=None, help="torch's thread count (default: torch's own)")
    parser.add_argument("--baseline-ref", default=None,
                        help="also time the compiled kernels of this git revision (e.g. HEAD) or csrc/ folder, "
                             "interleaved with this build's (`rnnkit_baseline`; built once, about a minute)")
    parser.add_argument("--export", action="store_true", help="instead: exported models in onnxruntime (generation, "
                        "classification, int8), `rnnkit bench --export --help`")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds = "4,8,8,16", 2
        args.lengths_sizes = args.lengths_sizes or "4,8,8,16;4,32,8,16"
    if args.lengths_sizes is None and args.lengths:
        args.lengths_sizes = ";".join(",".join(map(str, s)) for s in LENGTH_SIZES)
    length_sizes = [tuple(int(v) for v in s.split(",")) for s in (args.lengths_sizes or "").split(";") if s]
    sizes = [tuple(int(v) for v in s.split(",")) for s in args.sizes.split(";") if s]
    cells = [c for c in args.cells.split(",") if c]
    if args.threads:
        torch.set_num_threads(args.threads)
    baseline, baseline_label = baseline_kernels(args.baseline_ref) if args.baseline_ref else (None, None)
    machine = measure_machine()
    print(f"machine: {machine['matmul_gflops']:.1f} GFLOP/s matmul, {machine['copy_gbs']:.1f} GB/s copy; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; compiled kernels: {native.status()}",
          flush=True)
    result = {"machine": {**machine, "torch": torch.__version__, "threads": torch.get_num_threads(),
                          "platform": platform.platform(), "compiled_kernels": native.status()},
              "rounds": args.rounds, "baseline_ref": baseline_label, "training": []}
    for size in sizes:
        for name in cells:
            r = time_training(name, size, args.rounds, machine, baseline)
            result["training"].append(r)
            ratio, g = r["ratio_to_torch_nn_lstm"], r["gflops"]
            was = f" (baseline x{ratio['rnnkit_baseline']:.2f})" if baseline is not None else ""
            print(f"{name:26s} {size}  {r['path']:10s} rnnkit {r['median_s']['rnnkit'] * 1e3:8.1f} ms  "
                  f"x{ratio['rnnkit']:.2f} of nn.LSTM{was}, plain loop x{ratio['plain_loop']:.2f}; GFLOP/s: rnnkit "
                  f"{g['rnnkit']:.1f}, step GEMM {g['step_gemm']:.1f}, step kernel {g.get('step_kernel', 0):.1f}, "
                  f"sgemm {g['sgemm']:.1f}", flush=True)
    if length_sizes:
        result["lengths"] = []
    for size in length_sizes:
        r = time_lengths(size, args.rounds, args.packed_max_steps)
        result["lengths"].append(r)
        c = r["median_cpu_s"]
        packed = f"nn.LSTM packed {c['torch_packed']:.3f} s, x{r['cpu_ratio_to_torch_packed']:.3f}" \
            if "torch_packed" in c else "nn.LSTM packed not timed"
        print(f"lstm with lengths {size}  {r['route_with_lengths']:12s} CPU {c['rnnkit_lengths']:.3f} s, "
              f"x{r['cpu_ratio_to_full']:.2f} of no lengths; {packed}", flush=True)
    if not args.no_generation:
        g = time_generation(args.rounds, machine, tokens=20 if args.quick else 200,
                            H=64 if args.quick else 512)
        result["generation"] = g
        print("generation tokens/s: " + ", ".join(f"{k} {v:.0f}" for k, v in g["tokens_per_s"].items())
              + f" (bandwidth limit {g['bandwidth_limit_tokens_per_s']:.0f})", flush=True)
    if args.memory:
        big = max(sizes, key=lambda s: s[0] * s[1] * s[3])
        result["peak_memory_mb"] = {f"{impl} lstm": peak_memory("lstm", big, impl)
                                    for impl in ("rnnkit", "plain_loop", "torch_nn")}
        result["peak_memory_mb"].update({f"rnnkit {c}": peak_memory(c, big, "rnnkit")
                                         for c in ("lstm_layer_norm", "lstm_peepholes")})
        print("peak memory MB: " + ", ".join(f"{k} {v:.0f}" for k, v in result["peak_memory_mb"].items()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(format_table(result))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
