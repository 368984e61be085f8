"""Run folders: train one (a new run or ``--resume``), reopen one to evaluate, generate or predict.

``train_run`` is what ``rnnkit train`` and ``rnnkit.fit`` both call, so the same settings and seed give the
same run folder from either."""
from __future__ import annotations

import contextlib
import difflib
import json
import shutil
import sys
from dataclasses import asdict, fields, replace
from pathlib import Path

from .runtime.checkpoint import atomic_write_json, load_model, read_config, run_lock
from .errors import UserError
from .models import RecurrentConfig
from .tasks import TASKS
from .runtime.train import TrainConfig
from .version import __version__


def write_config(run_dir: Path, task, train_cfg: TrainConfig, *, record: dict | None = None) -> None:
    """``config.json``: everything that rebuilds the task and its model; ``record`` notes how data given in
    Python was written into the run folder (``rnnkit.fit``)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "config.json", {
        "rnnkit_version": __version__, "task": task.name, "task_config": asdict(task.cfg),
        "model": asdict(task.model_cfg), "train": asdict(train_cfg), "meta": task.meta, "seed": task.seed,
        **({"in_memory": record} if record else {}),
    })


def open_task(run_dir: Path, *, expect: str | tuple[str, ...] | None = None):
    """(task, train config) rebuilt from ``run_dir/config.json`` alone."""
    return task_of(read_config(run_dir), run_dir, expect=expect)


def task_of(config: dict, run_dir, *, expect: str | tuple[str, ...] | None = None):
    """(task, train config) rebuilt from the contents of a ``config.json`` (of the run ``run_dir``, for errors)."""
    name = config.get("task")
    if name not in TASKS:
        raise UserError(f"expected a run folder of an rnnkit task; {run_dir}/config.json names task {name!r}")
    allowed = (expect,) if isinstance(expect, str) else expect
    if allowed and name not in allowed:
        raise UserError(f"expected a run folder of task {' or '.join(allowed)}; {run_dir} is a {name} run")
    cls = TASKS[name]
    try:
        task = cls(cls.Config(**config["task_config"]), RecurrentConfig(**config["model"]).applicable(),
                   config["meta"], seed=config.get("seed", 0))
        train_cfg = TrainConfig(**config["train"])
    except (KeyError, TypeError) as e:
        raise UserError(f"expected a config.json written by this rnnkit in {run_dir}; {e}") from None
    return task, train_cfg


def open_run(run_dir: Path, *, expect=None, device: str = "cpu"):
    """(task, model with its trained weights, on ``device``: auto, cpu, cuda[:N] or mps) from a run folder."""
    from .runtime.distributed import resolve_device

    target = resolve_device(device)
    task, _ = open_task(run_dir, expect=expect)
    model = task.build_model()
    load_model(Path(run_dir) / "model.safetensors", model)
    model.to(target).eval()
    return task, model


def format_metrics(metrics: dict) -> str:
    return "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())


# ------------------------------------------------------------------------------------ settings


def setting_names(cls) -> set[str]:
    """The settings of a new run of task class ``cls``: its config's, the model's and the training's fields."""
    return {f.name for c in (cls.Config, RecurrentConfig, TrainConfig) for f in fields(c)}


def unknown_names(given, known) -> list[str]:
    """Each name of ``given`` not in ``known``, with the known names closest to it.

    >>> unknown_names(["hiden_size", "seed"], ["hidden_size", "seed", "num_layers"])
    ["'hiden_size' (close: hidden_size)"]
    """
    out = []
    for name in sorted(set(given) - set(known)):
        close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
        out.append(repr(name) + (f" (close: {', '.join(close)})" if close else ""))
    return out


def read_settings(path: str | None) -> dict:
    """A ``--config`` file: a JSON object of settings named like the flags, with underscores."""
    if not path:
        return {}
    try:
        settings = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"expected a JSON settings file at {path}; {e}") from None
    if not isinstance(settings, dict):
        raise UserError(f"expected a JSON object of settings in {path}; received {type(settings).__name__}")
    return settings


def merged_settings(cls, config: str | None, given: dict) -> dict:
    """The settings of a new run of task class ``cls``: the ``--config`` file's (their names checked), then the
    values ``given`` (flags, or ``rnnkit.fit``'s keywords) over them."""
    file_cfg = read_settings(config)
    unknown = unknown_names(file_cfg, setting_names(cls))
    if unknown:
        raise UserError(f"expected settings named like the flags in {config}; unknown: {', '.join(unknown)}")
    return {**file_cfg, **given}


def _build(cls, task_defaults: dict, settings: dict):
    """Dataclass defaults < task defaults < settings."""
    values = {f.name: settings.get(f.name, task_defaults.get(f.name)) for f in fields(cls)
              if f.name in settings or f.name in task_defaults}
    return cls(**values)


def new_configs(cls, settings: dict):
    """The task, model and train configs of a new run of task class ``cls``, every value checked, and the names
    of the model and training settings given (which the task's data-dependent defaults leave alone).
    ``settings`` holds the values given, by name (a ``--config`` file's, then the flags' over them)."""
    from .options import check_config

    configs = (_build(cls.Config, {}, settings), _build(RecurrentConfig, cls.model_defaults, settings),
               _build(TrainConfig, cls.train_defaults, settings))
    for cfg in configs:
        check_config(cfg)
    try:
        configs[1].make_cell(1)
    except ValueError as e:
        raise UserError(str(e)) from None
    given = {f.name for c in (RecurrentConfig, TrainConfig) for f in fields(c) if f.name in settings}
    return (*configs, given)


# ------------------------------------------------------------------------------------ training


def check_new(run_dir: Path) -> None:
    """A new run goes into a folder that holds none."""
    if (run_dir / "config.json").exists():
        raise UserError(f"expected a new run folder; {run_dir} already holds a run (add --resume to continue it, or "
                        f"choose another --run)")


def discard_unfinished(run_dir: Path) -> None:
    """Remove a run folder this process created when nothing was trained into it: a failed start leaves no
    half-written folder behind."""
    if not any((run_dir / n).exists() for n in ("model.safetensors", "checkpoint", "checkpoint.old")):
        shutil.rmtree(run_dir, ignore_errors=True)


def _silent(*args, **kwargs) -> None:
    return None


def train_run(task_name: str, settings: dict, data, run_dir: Path, *, resume: bool = False, device: str = "auto",
              precision: str = "fp32", tensorboard: bool | None = None, record: dict | None = None,
              echo=print, progress: bool = True, figures: bool = True) -> dict | None:
    """Train task ``task_name`` into ``run_dir`` (a new folder, or with ``resume`` the one there) and return its
    final validation metrics (None on ranks other than 0 under torchrun). ``settings`` are config fields by name
    (``steps`` and ``max_time`` are the only ones a resumed run takes); ``tensorboard``: event files under
    ``run_dir/tensorboard`` (None: when the package is installed); ``echo`` prints the run's lines (the command
    line's ``print``; None: nothing), ``progress`` shows the progress bar, ``figures`` draws the learning curve
    and the task's figures (off for a run folder no one will look at)."""
    import torch

    from .runtime.distributed import Placement
    from .runtime.tensorboard import open_board
    from .runtime.train import Trainer, init_seed

    echo = echo or _silent
    cls = TASKS[task_name]
    if resume:
        task, train_cfg = open_task(run_dir, expect=task_name)
        for name in ("max_time", "steps"):            # the budget may change on resume; nothing else does
            if settings.get(name) is not None:
                setattr(train_cfg, name, settings[name])
        train_cfg.validate()
        task_cfg, model_cfg, data, seed = task.cfg, task.model_cfg, data or task.meta.get("data"), task.seed
    else:
        check_new(run_dir)
        task_cfg, model_cfg, train_cfg, given = new_configs(cls, settings)
        seed = train_cfg.seed
    place = Placement.create(device, precision)
    # every source of randomness comes from the seed: data splits and generated data, then the initial weights
    torch.manual_seed(seed)
    task = cls.prepare(task_cfg, model_cfg, data, seed=seed)
    if not resume:   # settings that follow from the data (e.g. a series set's epochs), where none was given
        recipe = task.data_defaults(train_cfg.batch_size if "batch_size" in given else None)
        chosen = {k: v for k, v in recipe.items() if k not in given}
        if "eval_every" in chosen and "steps" in given and recipe.get("steps"):   # as many validations as the recipe
            chosen["eval_every"] = max(1, round(recipe["eval_every"] * train_cfg.steps / recipe["steps"]))
        train_names = {f.name for f in fields(train_cfg)}
        train_cfg = replace(train_cfg, **{k: v for k, v in chosen.items() if k in train_names})
        task.model_cfg = replace(task.model_cfg, **{k: v for k, v in chosen.items() if k not in train_names})
        train_cfg.validate()
    created, board = not run_dir.exists(), None
    try:
        with (run_lock(run_dir) if place.is_main else contextlib.nullcontext()):
            if not resume and place.is_main:
                if (run_dir / "config.json").exists():
                    raise UserError(f"expected a new run folder; {run_dir} already holds a run")
                write_config(run_dir, task, train_cfg, record=record)
            place.barrier()                              # the other ranks start once the folder is there
            torch.manual_seed(init_seed(seed))
            model = task.build_model()
            if not resume:
                task.initialize(model)                       # e.g. a language model's weights
            trainer = Trainer(task, model, train_cfg, run_dir, placement=place, progress=progress, figures=figures)
            resumed = resume and trainer.resume()
            if resume and not resumed and place.is_main:
                print(f"no checkpoint in {run_dir} yet; starting from step 0", file=sys.stderr)
            if place.is_main:
                # a resumed run replays the steps after its checkpoint: TensorBoard drops what the killed one logged
                board = open_board(run_dir, tensorboard, purge_step=trainer.step + 1 if resume else None)
                n_params = sum(p.numel() for p in model.parameters())
                echo(f"run {run_dir}: task {task.name}, {n_params:,} parameters, up to {train_cfg.steps} steps"
                     + (f" or {train_cfg.max_time:g} s" if train_cfg.max_time else "")
                     + (f", {place.world_size} processes" if place.distributed else "")
                     + f", {place.device} {place.precision}", flush=True)
            metrics = trainer.fit(board=board)
    except Exception:
        if board is not None:
            board.close()
        if place.is_main and created:
            discard_unfinished(run_dir)
        raise
    finally:
        place.close()
    if not place.is_main:
        return None
    try:
        report_test(run_dir, echo, board, figures=figures,
                    final=f"final validation ({task.name}, step {trainer.step}): {format_metrics(metrics)}")
    finally:
        if board is not None:
            board.close()
    return metrics


def report_test(run_dir: Path, echo=print, board=None, *, figures: bool = True, final: str | None = None) -> None:
    """A task with a held-out test set (a UCR/UEA folder's test file) scores it once, with the weights that
    validation selected, and writes ``test_metrics.json``; nothing before looked at it. A task with figures of
    the selected model (attention maps, a confusion matrix) draws them into the run folder; ``board``
    (TensorBoard) gets the test metrics and every figure of the run. The lines printed end with the ``final``
    validation line and then the test line, so a run's metrics are always its last line."""
    task, best = open_run(run_dir)
    scored = task.test_metrics(best)
    drawn = task.figures(run_dir, best) if figures else []
    for figure in drawn:
        echo(f"figure of the selected weights: {figure}")
    if final:
        echo(final)
    if scored is not None:
        where, metrics = scored
        atomic_write_json(run_dir / "test_metrics.json", {"test": where, **metrics})
        echo(f"test ({task.name}, {where}, the weights selected on validation): {format_metrics(metrics)}")
    if board is not None:
        board.final(run_dir, test=scored[1] if scored else None, figures=drawn)
