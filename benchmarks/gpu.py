"""The GPU check in one command: rnnkit's CUDA tests, then every cell's forward+backward time on the
GPU against its cuDNN peer, written to one JSON.

What it measures:

1. The tests that skip without CUDA (found by reading ``tests/*.py``: a ``skipif`` on
   ``torch.cuda``, directly or through a module-level mark such as ``CUDA = pytest.mark.skipif(...)``,
   or ``pytestmark``), run by pytest in a subprocess under a time limit; passed / failed / errors /
   skipped counts, the names of the failures, the skip reasons.
2. For every cell and variant (plain LSTM, GRU, Elman, BasicRNN, LSTM with layer_norm / peepholes /
   projection, Zoneout- and variational-Dropout-wrapped LSTM, GRU with layer_norm, EUNN with a tunable
   layout and FFT-style, MinGRU, MinLSTM): one forward+backward of ``rnnkit.unroll(cell, x)``, with
   and without variable lengths (uniform in [T/10, T]), against the torch.nn module a user would use
   instead (nn.LSTM / nn.GRU / nn.RNN on the same sizes, through ``pack_padded_sequence`` for the
   lengths). ``peer_exact`` says whether the peer computes the same function (plain cells, the
   projected LSTM) or is only the speed reference (the variants cuDNN has no kernel for); cells with
   neither have no peer. In float32 at every T, and under ``torch.autocast`` in bf16 and fp16 at the
   shortest T. ``rnnkit.kernels.path_for(cell, x)`` (and, for the ``"torch"`` path, its route with
   the lengths) records which implementation ran. A row that fails records its error and the run
   goes on, since "autocast is not supported on this path" is itself a finding.
3. Generation: a 3-layer LSTM stepped one token at a time, batch 1, 500 steps, rnnkit's cells against
   nn.LSTM called per step and a list of nn.LSTMCell.

Timing: the implementations of one row interleaved round by round after a warm-up, each call between
CUDA events with ``torch.cuda.synchronize`` around it, the median of the rounds (``--reps``). A row
whose warm-up shows it would run past ``--row-max-s`` gets fewer rounds (recorded as ``reps``), and
rows not started before ``--budget-s`` are recorded as not run, so one device command of at most 10
minutes always ends with a JSON. The JSON is rewritten after every row, so a run killed from outside
still leaves what it measured. TF32 settings are recorded, not changed: torch's default lets cuDNN
use TF32 in float32 while plain matmuls do not, which favours the peers in the float32 rows.

Run it on a lent device (an NVIDIA H200): ``make gpu-check`` (or ``benchmarks/gpu.sh``; with
``--out PATH`` to write elsewhere, e.g. ``benchmarks/gpu.sh --out $OUT/gpu.json``). Without a GPU,
``--dry-run`` runs the same code on the CPU at tiny sizes (tests/end_to_end/test_gpu_check.py does); without a
GPU and without ``--dry-run`` it says so and exits 2. Results go to ``benchmarks/gpu.json`` (one
JSON: device, torch / CUDA / cuDNN versions, test counts, every row; a dry run's default is the
git-ignored ``benchmarks/gpu.smoke.json``) and a Markdown table on stdout;
benchmarks/README.md takes the figures once a run on a device exists.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:               # on a lent machine rnnkit is not installed: run from the checkout
    sys.path.insert(0, str(ROOT))

import torch                                # noqa: E402
from torch import nn                        # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence   # noqa: E402

import rnnkit as rk                         # noqa: E402
from rnnkit import kernels                  # noqa: E402

# name -> (factory(D, H), peer kind or None, whether the peer computes the same function)
CELLS = {
    "lstm": (lambda D, H: rk.LSTMCell(D, H), "lstm", True),
    "gru": (lambda D, H: rk.GRUCell(D, H), "gru", True),
    "elman": (lambda D, H: rk.ElmanCell(D, H), "rnn", True),
    "basic_rnn": (lambda D, H: rk.BasicRNNCell(D, H), "rnn", False),
    "lstm_layer_norm": (lambda D, H: rk.LSTMCell(D, H, layer_norm=True), "lstm", False),
    "lstm_peepholes": (lambda D, H: rk.LSTMCell(D, H, peepholes=True), "lstm", False),
    "lstm_projection": (lambda D, H: rk.LSTMCell(D, H, proj_size=H // 2), "lstm_proj", True),
    "lstm_zoneout": (lambda D, H: rk.Zoneout(rk.LSTMCell(D, H), p=0.1), "lstm", False),
    "lstm_variational_dropout": (lambda D, H: rk.Dropout(rk.LSTMCell(D, H), input_p=0.25, state_p=0.25,
                                                         variational=True), "lstm", False),
    "gru_layer_norm": (lambda D, H: rk.GRUCell(D, H, layer_norm=True), "gru", False),
    "eunn": (lambda D, H: rk.EUNNCell(D, H), None, False),
    "eunn_fft": (lambda D, H: rk.EUNNCell(D, H, fft=True), None, False),
    "min_gru": (lambda D, H: rk.MinGRUCell(D, H), None, False),
    "min_lstm": (lambda D, H: rk.MinLSTMCell(D, H), None, False),
}
PEER_NAMES = {"lstm": "nn.LSTM", "lstm_proj": "nn.LSTM(proj_size)", "gru": "nn.GRU", "rnn": "nn.RNN"}
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
FULL = {"batch": 64, "steps": [256, 1024], "input_size": 128, "hidden_size": 256, "reps": 10, "warmup": 2,
        "gen_layers": 3, "gen_hidden": 512, "gen_steps": 500}
DRY = {"batch": 2, "steps": [5], "input_size": 4, "hidden_size": 8, "reps": 1, "warmup": 1,
       "gen_layers": 3, "gen_hidden": 8, "gen_steps": 5}


def error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300] if str(e).strip() else ''}".rstrip(": ")


# ------------------------------------------------------------------------------------------ tests

def _needs_cuda_mark(node: ast.expr, marks: set[str]) -> bool:
    src = ast.unparse(node)
    return src in marks or ("skipif" in src and "cuda" in src.lower())


def _skips_without_cuda_inside(fn: ast.FunctionDef) -> bool:
    """``if not torch.cuda.is_available(): pytest.skip(...)`` at the top of a test's body."""
    for stmt in fn.body:
        if (isinstance(stmt, ast.If) and "cuda" in ast.unparse(stmt.test).lower()
                and ast.unparse(stmt.test).startswith("not ") and "skip" in ast.unparse(stmt.body[0])):
            return True
    return False


def cuda_tests(test_dir: Path) -> list[str]:
    """Node ids (``tests/file.py::test`` or ``::Class::test``) of the tests that skip without CUDA.
    Read from the source rather than from a CPU run's skips, since this also runs where CUDA is."""
    ids: list[str] = []
    for path in sorted(test_dir.glob("test_*.py")):
        source = path.read_text()
        if "cuda" not in source.lower():
            continue
        tree = ast.parse(source)
        marks = {t.id for s in tree.body if isinstance(s, ast.Assign) and _needs_cuda_mark(s.value, set())
                 for t in s.targets if isinstance(t, ast.Name)}
        whole_file = "pytestmark" in marks
        rel = path.relative_to(test_dir.parent).as_posix()

        def visit(body, prefix, inherited):
            for node in body:
                if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                    here = inherited or any(_needs_cuda_mark(d, marks) for d in node.decorator_list)
                    visit(node.body, f"{prefix}::{node.name}", here)
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                    if (inherited or any(_needs_cuda_mark(d, marks) for d in node.decorator_list)
                            or _skips_without_cuda_inside(node)):
                        ids.append(f"{prefix}::{node.name}")
        visit(tree.body, rel, whole_file)
    return ids


def parse_junit(path: Path) -> dict:
    """Counts, failed node names and skip reasons from pytest's ``--junitxml`` file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    out = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "failed_tests": [], "skip_reasons": {}}
    for suite in suites:
        for case in suite.iter("testcase"):
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            kinds = {child.tag for child in case}
            if "failure" in kinds:
                out["failed"] += 1
                out["failed_tests"].append(name)
            elif "error" in kinds:
                out["errors"] += 1
                out["failed_tests"].append(name)
            elif "skipped" in kinds:
                out["skipped"] += 1
                reason = next(c.get("message", "") for c in case if c.tag == "skipped")
                out["skip_reasons"][reason] = out["skip_reasons"].get(reason, 0) + 1
            else:
                out["passed"] += 1
    return out


def parse_summary(text: str) -> dict:
    """Counts from pytest's last summary line, for a run killed before it wrote its XML."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for n, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", text):
        counts["errors" if word.startswith("error") else word] = int(n)
    return counts


class PytestRun:
    """pytest on ``node_ids`` in a subprocess, in its own process group so a timeout ends its children
    too; ``start()`` returns at once, ``finish()`` waits and returns the counts."""

    def __init__(self, node_ids: list[str], timeout_s: float):
        self.node_ids, self.timeout_s, self.proc = node_ids, timeout_s, None

    def start(self) -> "PytestRun":
        if not self.node_ids:
            return self
        self.tmp = tempfile.TemporaryDirectory()
        self.xml = Path(self.tmp.name) / "junit.xml"
        self.cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-m", "not slow",
                    f"--junitxml={self.xml}", *self.node_ids]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        return self

    def finish(self) -> dict:
        result = {"selected": self.node_ids, "timeout_s": self.timeout_s, "timed_out": False}
        if self.proc is None:
            return {**result, "passed": 0, "failed": 0, "errors": 0, "skipped": 0, "note": "no CUDA tests found"}
        left = self.timeout_s - (time.perf_counter() - self.started)
        try:
            output, _ = self.proc.communicate(timeout=max(left, 1))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            output, _ = self.proc.communicate()
            result["timed_out"] = True
        result.update(command=" ".join(self.cmd[1:]).replace(str(self.xml), "JUNIT.xml"),
                      returncode=self.proc.returncode, seconds=round(time.perf_counter() - self.started, 1),
                      output_tail=output[-3000:])
        try:
            result.update(parse_junit(self.xml) if self.xml.exists() else parse_summary(output))
        except ET.ParseError:
            result.update(parse_summary(output))
        self.tmp.cleanup()
        return result


# ------------------------------------------------------------------------------------------ timing

class Timer:
    """Seconds of one call: CUDA events with synchronisation on a GPU, perf_counter on the CPU."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def __call__(self, f) -> float:
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            f()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1e3
        t = time.perf_counter()
        f()
        return time.perf_counter() - t


def time_impls(impls: dict, timer: Timer, reps: int, warmup: int, row_max_s: float) -> dict:
    """{name: {"ms": median} or {"error": text}}, implementations interleaved round by round."""
    out, live, warm_s = {}, {}, 0.0
    for name, f in impls.items():
        try:
            if timer.cuda:
                torch.cuda.reset_peak_memory_stats()
            for _ in range(max(1, warmup)):
                t = timer(f)
            warm_s += t
            live[name] = f
            out[name] = {"peak_mb": torch.cuda.max_memory_allocated() / 2 ** 20} if timer.cuda else {}
        except Exception as e:                  # noqa: BLE001 - one row's failure is a result, not the end
            out[name] = {"error": error_text(e)}
            if timer.cuda:
                torch.cuda.empty_cache()
    # a slow row (a generic loop at the longest T) gets fewer rounds, so the whole run fits its budget
    reps = max(1, min(reps, int(row_max_s / warm_s))) if warm_s > 0 else reps
    times = {k: [] for k in live}
    for _ in range(reps):
        for name, f in list(live.items()):
            try:
                times[name].append(timer(f))
            except Exception as e:              # noqa: BLE001
                out[name] = {"error": error_text(e)}
                del live[name]
    for name in live:
        out[name]["ms"] = statistics.median(times[name]) * 1e3
    return {"reps": reps, **out}


# ------------------------------------------------------------------------------------------ rows

def make_peer(kind: str, D: int, H: int) -> nn.Module:
    return {"lstm": lambda: nn.LSTM(D, H, batch_first=True), "gru": lambda: nn.GRU(D, H, batch_first=True),
            "rnn": lambda: nn.RNN(D, H, batch_first=True),
            "lstm_proj": lambda: nn.LSTM(D, H, proj_size=H // 2, batch_first=True)}[kind]()


def train_step(run, module: nn.Module, autocast_dtype, device: torch.device):
    """One forward (under autocast when asked) and backward of a sum of the outputs."""
    def step():
        module.zero_grad(set_to_none=True)
        if autocast_dtype is None:
            y = run()
        else:
            with torch.autocast(device_type=device.type, dtype=autocast_dtype):
                y = run()
        step.out_dtype = str(y.dtype).replace("torch.", "")
        y.float().sum().backward()
    step.out_dtype = None
    return step


def bench_row(name: str, B: int, T: int, D: int, H: int, dtype: str, with_lengths: bool, device: torch.device,
              timer: Timer, reps: int, warmup: int, row_max_s: float) -> dict:
    factory, peer_kind, exact = CELLS[name]
    row = {"cell": name, "B": B, "T": T, "D": D, "H": H, "dtype": dtype, "lengths": with_lengths,
           "peer": PEER_NAMES.get(peer_kind), "peer_exact": exact if peer_kind else None}
    g = torch.Generator().manual_seed(T)
    x = torch.randn(B, T, D, generator=g).to(device)
    # lengths stay on the CPU, where pack_padded_sequence needs them; rnnkit moves them itself
    lengths = torch.randint(max(T // 10, 1), T + 1, (B,), generator=g) if with_lengths else None
    row["mean_length"] = float(lengths.float().mean()) if with_lengths else float(T)
    torch.manual_seed(0)
    try:
        cell = factory(D, H).to(device).train()
        row["path"] = kernels.path_for(cell, x)
        if row["path"] == "torch":
            from rnnkit.kernels.torch_rnn import route
            row["route"] = route(cell, x, lengths.to(device) if lengths is not None else None)
    except Exception as e:                      # noqa: BLE001
        row["rnnkit_error"] = error_text(e)
        return row
    ac = AUTOCAST.get(dtype)
    ours = train_step(lambda: rk.unroll(cell, x, lengths=lengths)[0], cell, ac, device)
    impls = {"rnnkit": ours}
    if peer_kind:
        peer = make_peer(peer_kind, D, H).to(device)

        def run_peer():
            if lengths is None:
                return peer(x)[0]
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            return pad_packed_sequence(peer(packed)[0], batch_first=True, total_length=T)[0]
        impls["peer"] = train_step(run_peer, peer, ac, device)
    timed = time_impls(impls, timer, reps, warmup, row_max_s)
    row["reps"] = timed["reps"]
    for key, step in impls.items():
        r = timed[key]
        if "ms" in r:
            row[f"{key}_ms"] = r["ms"]
            row[f"{key}_out_dtype"] = step.out_dtype
        else:
            row[f"{key}_error"] = r.get("error", "no time")
        if "peak_mb" in r:
            row[f"{key}_peak_mb"] = r["peak_mb"]
    if "rnnkit_ms" in row and "peer_ms" in row:
        row["ratio_to_peer"] = row["rnnkit_ms"] / row["peer_ms"]
    return row


def bench_generation(layers: int, H: int, steps: int, device: torch.device, timer: Timer, reps: int,
                     warmup: int, row_max_s: float) -> dict:
    """Tokens per second stepping a layers x H LSTM one token at a time at batch 1 (no grad)."""
    out = {"layers": layers, "H": H, "steps": steps, "batch": 1}
    try:
        torch.manual_seed(0)
        lstm = nn.LSTM(H, H, num_layers=layers, batch_first=True).to(device)
        cells = nn.ModuleList([nn.LSTMCell(H, H) for _ in range(layers)]).to(device)
        ours = rk.Stack([layer.fw if hasattr(layer, "fw") else layer.cell
                         for layer in rk.from_torch(lstm).layers]).to(device)
        x = torch.randn(1, H, device=device)
        out["path"] = kernels.path_for(ours, x.unsqueeze(1))     # single steps: the generic loop by design
    except Exception as e:                      # noqa: BLE001
        out["error"] = error_text(e)
        return out

    @torch.no_grad()
    def run_ours():
        s = ours.initial_state(1, device=device)
        for _ in range(steps):
            _, s = ours(x, s)

    @torch.no_grad()
    def run_lstm():
        hx = None
        for _ in range(steps):
            _, hx = lstm(x.view(1, 1, H), hx)

    @torch.no_grad()
    def run_cells():
        hs = [(torch.zeros(1, H, device=device), torch.zeros(1, H, device=device)) for _ in range(layers)]
        for _ in range(steps):
            inp = x
            for k, cell in enumerate(cells):
                hs[k] = cell(inp, hs[k])
                inp = hs[k][0]

    timed = time_impls({"rnnkit": run_ours, "torch_nn_lstm": run_lstm, "torch_nn_lstmcell": run_cells},
                       timer, reps, warmup, row_max_s)
    out["reps"] = timed.pop("reps")
    for k, r in timed.items():
        out[k] = ({"ms_per_token": r["ms"] / steps, "tokens_per_s": steps / r["ms"] * 1e3} if "ms" in r
                  else {"error": r.get("error", "no time")})
    return out


# ------------------------------------------------------------------------------------------ report

def environment(device: torch.device) -> dict:
    env = {"device": "cpu" if device.type == "cpu" else torch.cuda.get_device_name(device),
           "device_type": device.type, "torch": torch.__version__, "cuda": torch.version.cuda,
           "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
           "python": platform.python_version(), "platform": platform.platform(), "rnnkit": rk.__version__,
           "compiled_kernels": kernels.native.status(),
           "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32}}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env.update(capability=f"{p.major}.{p.minor}", multiprocessors=p.multi_processor_count,
                   memory_gib=round(p.total_memory / 2 ** 30, 1))
    try:
        env["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                       timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["commit"] = None
    return env


def _cell_text(row: dict | None) -> str:
    if row is None:
        return ""
    if "rnnkit_ms" not in row:
        return "error"
    peer = f" / {row['peer_ms']:.2f}" if "peer_ms" in row else (" / err" if "peer_error" in row else "")
    return f"{row['rnnkit_ms']:.2f}{peer}"


def markdown(result: dict) -> str:
    t = result["tests"]
    lines = [f"{result['environment']['device']}, torch {result['environment']['torch']}, "
             f"CUDA {result['environment']['cuda']}: CUDA tests {t.get('passed', 0)} passed, "
             f"{t.get('failed', 0)} failed, {t.get('errors', 0)} errors, {t.get('skipped', 0)} skipped"
             + (" (timed out)" if t.get("timed_out") else ""), ""]
    dtypes = sorted({r["dtype"] for r in result["rows"]}, key=["float32", "bf16", "fp16"].index)
    lines += ["| cell | B×T×D×H | lengths | path | " + " | ".join(f"{d} ms rnnkit / peer" for d in dtypes) + " |",
              "|---|---|---|---|" + "---|" * len(dtypes)]
    keys = []
    for r in result["rows"]:
        k = (r["cell"], r["B"], r["T"], r["D"], r["H"], r["lengths"])
        if k not in keys:
            keys.append(k)
    for k in keys:
        rows = {r["dtype"]: r for r in result["rows"] if (r["cell"], r["B"], r["T"], r["D"], r["H"], r["lengths"]) == k}
        first = next(iter(rows.values()))
        path = first.get("path", "?") + (f" ({first['route']})" if "route" in first else "")
        lines.append(f"| {k[0]} | {k[1]}×{k[2]}×{k[3]}×{k[4]} | {'yes' if k[5] else 'no'} | {path} | "
                     + " | ".join(_cell_text(rows.get(d)) for d in dtypes) + " |")
    g = result.get("generation")
    if g and "error" not in g:
        title = f"generation, batch 1, {g['layers']}×{g['H']} LSTM, {g['steps']} steps"
        lines += ["", f"| {title} | ms/token | tokens/s |", "|---|---|---|"]
        for k in ("rnnkit", "torch_nn_lstm", "torch_nn_lstmcell"):
            v = g.get(k, {})
            lines.append(f"| {k} | {v['ms_per_token']:.3f} | {v['tokens_per_s']:.0f} |" if "ms_per_token" in v
                         else f"| {k} | error | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dry-run", action="store_true", help="on the CPU, tiny sizes, 1 repetition, one test file")
    p.add_argument("--out", default=None, help="the JSON to write (default benchmarks/gpu.json; with --dry-run "
                   "benchmarks/gpu.smoke.json, git-ignored, so a CPU run never overwrites a GPU one)")
    p.add_argument("--cells", default=",".join(CELLS), help=f"comma-separated, from {list(CELLS)}")
    p.add_argument("--steps", default=None, help="comma-separated T values (float32 at each; autocast at the first)")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--input-size", type=int, default=None)
    p.add_argument("--hidden-size", type=int, default=None)
    p.add_argument("--reps", type=int, default=None, help="timed rounds per row (median)")
    p.add_argument("--row-max-s", type=float, default=8.0, help="fewer rounds for a row slower than this")
    p.add_argument("--budget-s", type=float, default=420.0, help="start no benchmark row after this many seconds")
    p.add_argument("--tests", default=None, help="pytest node ids, space-separated (default: the CUDA tests)")
    p.add_argument("--no-tests", action="store_true")
    p.add_argument("--test-timeout", type=float, default=200.0, help="seconds before the test run is killed")
    args = p.parse_args(argv)

    if not args.dry_run and not torch.cuda.is_available():
        print("no CUDA device: use --dry-run on the CPU")
        return 2
    cfg = dict(DRY if args.dry_run else FULL)
    for key in ("batch", "input_size", "hidden_size", "reps"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.steps:
        cfg["steps"] = [int(s) for s in args.steps.split(",") if s]
    cells = [c for c in args.cells.split(",") if c]
    unknown = sorted(set(cells) - set(CELLS))
    if unknown:
        p.error(f"unknown cells {unknown}; known: {list(CELLS)}")
    device = torch.device("cpu" if args.dry_run else "cuda")
    timer = Timer(device)
    start = time.perf_counter()
    out = Path(args.out or ROOT / "benchmarks" / ("gpu.smoke.json" if args.dry_run else "gpu.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"complete": False, "dry_run": args.dry_run, "environment": environment(device), "config": cfg,
              "tests": {}, "rows": [], "generation": None}

    def save():
        result["seconds"] = round(time.perf_counter() - start, 1)
        out.write_text(json.dumps(result, indent=2) + "\n")

    env = result["environment"]
    print(f"{env['device']}: torch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}", flush=True)
    if args.no_tests:
        tests = PytestRun([], args.test_timeout)
        result["tests"] = {"selected": [], "note": "--no-tests"}
    else:
        ids = args.tests.split() if args.tests else cuda_tests(ROOT / "tests")
        if args.dry_run and not args.tests and ids:
            # one quick file: the one holding the fewest CUDA tests (they skip here, which is the point)
            files = sorted({i.split("::")[0] for i in ids}, key=lambda f: (sum(i.startswith(f + "::") for i in ids), f))
            ids = [i for i in ids if i.startswith(files[0] + "::")]
        tests = PytestRun(ids, args.test_timeout).start()

    def report_tests():
        result["tests"] = t = tests.finish()
        print(f"tests: {t.get('passed')} passed, {t.get('failed')} failed, {t.get('errors')} errors, "
              f"{t.get('skipped')} skipped{' (timed out)' if t['timed_out'] else ''} in {t.get('seconds')} s",
              flush=True)
        save()

    # On the GPU the tests finish before any timing starts, so they do not disturb it; in a dry run
    # they overlap the benchmark, which keeps the CPU check short.
    if not args.dry_run and not args.no_tests:
        report_tests()
    save()

    # float32 at every T; the reduced precisions at the shortest, where a generic loop is cheapest
    plan = [(c, T, "float32", ln) for T in cfg["steps"] for c in cells for ln in (False, True)]
    plan += [(c, cfg["steps"][0], d, ln) for d in AUTOCAST for c in cells for ln in (False, True)]
    B, D, H = cfg["batch"], cfg["input_size"], cfg["hidden_size"]
    for name, T, dtype, ln in plan:
        if time.perf_counter() - start > args.budget_s:
            row = {"cell": name, "B": B, "T": T, "D": D, "H": H, "dtype": dtype, "lengths": ln,
                   "rnnkit_error": "not run: time budget spent"}
        else:
            row = bench_row(name, B, T, D, H, dtype, ln, device, timer, cfg["reps"], cfg["warmup"], args.row_max_s)
        result["rows"].append(row)
        what = (f"{row['rnnkit_ms']:9.2f} ms" if "rnnkit_ms" in row else row.get("rnnkit_error", "?")[:60])
        peer = f", peer {row['peer_ms']:.2f} ms" if "peer_ms" in row else ""
        print(f"{name:26s} T={T:<5d} {dtype:8s} lengths={'y' if ln else 'n'} {row.get('path', '?'):12s} "
              f"{what}{peer}", flush=True)
        save()

    result["generation"] = bench_generation(cfg["gen_layers"], cfg["gen_hidden"], cfg["gen_steps"], device, timer,
                                            cfg["reps"], cfg["warmup"], args.row_max_s)
    if args.dry_run and not args.no_tests:
        report_tests()
    result["complete"] = True
    save()
    print()
    print(markdown(result))
    print(f"\nwrote {out} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
