"""A task prepared and fitted in-process, as the CLI would, with a crash simulated after some step and a resume."""
import torch

from rnnkit.models import RecurrentConfig
from rnnkit.runs import write_config
from rnnkit.runtime.train import SimulatedCrash, Trainer
from rnnkit.tasks import TASKS


def make_task(tmp_path, name, data=None, model=None, **task_kw):
    cls = TASKS[name]
    model_cfg = RecurrentConfig(**{**cls.model_defaults, **(model or {})})
    return cls.prepare(cls.Config(**task_kw), model_cfg, data, seed=3)


def fit_run(task, run_dir, cfg, crash_after=None, resume=False):
    torch.manual_seed(123)  # initial weights
    model = task.build_model()
    run_dir.mkdir(exist_ok=True)
    write_config(run_dir, task, cfg)
    trainer = Trainer(task, model, cfg, run_dir)
    if resume:
        assert trainer.resume()
    try:
        trainer.fit(crash_after=crash_after)
    except SimulatedCrash:
        pass
    return model
