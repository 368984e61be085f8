"""Scale-out measurements: training throughput with 1 and 2 processes (torchrun, gloo), and the peak
resident memory of ``rnnkit train charlm`` against the size of its corpus.

    python benchmarks/ddp.py                       # both; JSON to benchmarks/ddp.json
    python benchmarks/ddp.py --sizes-mb 10,100     # smaller corpora only
    python benchmarks/ddp.py --smoke               # seconds: tiny corpus, few steps

Throughput: the same global batch (32 streams x 100 characters, one LSTM layer of 256) for a fixed
number of steps, characters per second of training from the run's own log (metrics.csv), median of
``--rounds`` runs, interleaved. Memory: VmHWM of the training process (every rank's for torchrun),
the corpus generated from a fixed word list and encoded into the token cache before the run.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("the king and queen of england shall ride to war; a horse, a horse! my kingdom for a horse. "
         "now is the winter of our discontent made glorious summer by this sun of york. ").split()


def make_corpus(path: Path, megabytes: float, seed: int = 0) -> None:
    rng = random.Random(seed)
    block = "\n".join(" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(4000)).encode() + b"\n"
    target = int(megabytes * 2 ** 20)
    with open(path, "wb") as f:
        written = 0
        while written < target:
            piece = block[: target - written]
            f.write(piece)
            written += len(piece)


PEAK = ("import resource, runpy, sys\n"
        "sys.argv = ['rnnkit'] + sys.argv[1:]\n"
        "try:\n    runpy.run_module('rnnkit', run_name='__main__')\n"
        "finally:\n"
        "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "    print('VmHWM_kB', hwm, file=sys.stderr)\n")


def train(args: list[str], nproc: int, env: dict) -> list[int]:
    """The peak resident kB of each process of one run."""
    if nproc == 1:
        cmd = [sys.executable, "-c", PEAK, *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--no-python",
               sys.executable, "-c", PEAK, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    peaks = [int(line.split()[-1]) for line in proc.stderr.splitlines() if "VmHWM_kB" in line]
    return peaks


def run_args(corpus: Path, run: Path, steps: int, batch: int, seq_len: int) -> list[str]:
    return ["train", "charlm", "--data", str(corpus), "--run-dir", str(run), "--max-steps", str(steps),
            "--eval-every", str(steps), "--eval-chars", "20000", "--hidden-size", "256", "--num-layers", "1",
            "--dropout", "0", "--batch-size", str(batch), "--seq-len", str(seq_len), "--log-every", "1"]


def throughput(run: Path, skip: int = 2) -> float:
    """Training characters per second after the first ``skip`` logged steps (start-up excluded)."""
    rows = [r for r in csv.DictReader(open(run / "metrics.csv")) if r["train_loss"]]
    config = json.loads((run / "config.json").read_text())
    chars = config["train"]["batch_size"] * config["task_config"]["seq_len"]
    (s0, t0), (s1, t1) = [(int(rows[i]["step"]), float(rows[i]["elapsed_s"])) for i in (skip - 1, -1)]
    return (s1 - s0) * chars / (t1 - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes-mb", default="10,100,1024", help="corpus sizes for the memory measurement")
    parser.add_argument("--steps", type=int, default=30, help="training steps per throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--smoke", action="store_true", help="a tiny corpus and few steps (CI)")
    parser.add_argument("--out", default="benchmarks/ddp.json")
    args = parser.parse_args()
    if args.smoke:
        args.sizes_mb, args.steps, args.rounds = "1", 4, 1
    work = Path(tempfile.mkdtemp(prefix="rnnkit-ddp-"))
    env = {**os.environ, "RNNKIT_CACHE": str(work / "cache")}
    result = {"omp_threads_per_process": {n: max(1, (os.cpu_count() or 2) // n) for n in (1, 2)}, "throughput": {},
              "memory": {}}
    corpus = work / "small.txt"
    make_corpus(corpus, 5 if not args.smoke else 1)
    speeds = {1: [], 2: []}
    for r in range(args.rounds):
        for nproc in (1, 2):
            run = work / f"tp-{nproc}-{r}"
            threads = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 2) // nproc))}
            train(run_args(corpus, run, args.steps, 32, 100 if not args.smoke else 20), nproc, {**env, **threads})
            speeds[nproc].append(throughput(run) if not args.smoke else 0.0)
    result["throughput"] = {f"{n}_process": {"chars_per_s_median": statistics.median(v), "rounds": v}
                            for n, v in speeds.items()}
    result["cpu_count"] = os.cpu_count()
    for mb in [float(s) for s in args.sizes_mb.split(",")]:
        path = work / f"corpus-{mb:g}MB.txt"
        t = time.perf_counter()
        make_corpus(path, mb)
        made = time.perf_counter() - t
        run = work / f"mem-{mb:g}"
        t = time.perf_counter()
        peaks = train(run_args(path, run, 5 if not args.smoke else 2, 32, 100 if not args.smoke else 20), 1, env)
        wall = time.perf_counter() - t
        result["memory"][f"{mb:g}MB"] = {"peak_rss_kB": peaks[0], "wall_s_incl_encoding": round(wall, 1),
                                         "generate_s": round(made, 1)}
        path.unlink()
        print(f"{mb:g} MB corpus: peak RSS {peaks[0] / 1024:.0f} MB, {wall:.1f} s", flush=True)
    print(json.dumps(result, indent=2))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
