"""Run folders: create one for a new training run, reopen one to resume, evaluate, generate or predict."""
from __future__ import annotations


from dataclasses import asdict
from pathlib import Path

from . import __version__
from .checkpoint import atomic_write_json, load_model, read_config
from .errors import UserError
from .models import RecurrentConfig
from .tasks import TASKS
from .train import TrainConfig


def write_config(run_dir: Path, task, train_cfg: TrainConfig) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "config.json", {
        "rnnkit_version": __version__, "task": task.name, "task_config": asdict(task.cfg),
        "model": asdict(task.model_cfg), "train": asdict(train_cfg), "meta": task.meta, "seed": task.seed,
    })


def open_task(run_dir: Path, *, expect: str | tuple[str, ...] | None = None):
    """(task, train config) rebuilt from ``run_dir/config.json`` alone."""
    config = read_config(run_dir)
    name = config.get("task")
    if name not in TASKS:
        raise UserError(f"expected a run folder of an rnnkit task; {run_dir}/config.json names task {name!r}")
    allowed = (expect,) if isinstance(expect, str) else expect
    if allowed and name not in allowed:
        raise UserError(f"expected a run folder of task {' or '.join(allowed)}; {run_dir} is a {name} run")
    cls = TASKS[name]
    try:
        task = cls(cls.Config(**config["task_config"]), RecurrentConfig(**config["model"]), config["meta"],
                   seed=config.get("seed", 0))
        train_cfg = TrainConfig(**config["train"])
    except (KeyError, TypeError) as e:
        raise UserError(f"expected a config.json written by this rnnkit in {run_dir}; {e}") from None
    return task, train_cfg


def open_run(run_dir: Path, *, expect=None, device: str = "cpu"):
    """(task, model with its trained weights, on ``device``: auto, cpu, cuda[:N] or mps) from a run folder."""
    from .distributed import resolve_device

    target = resolve_device(device)
    task, _ = open_task(run_dir, expect=expect)
    model = task.build_model()
    load_model(Path(run_dir) / "model.safetensors", model)
    model.to(target).eval()
    return task, model


def format_metrics(metrics: dict) -> str:
    return "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())


