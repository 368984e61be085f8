"""The Trainer: backpropagation through time over whole sequences or, with a carried state, truncated
BPTT over long streams (the Simple RNNs post, the Theano notebook and the RNN 1 notes); SGD / Adam / AdamW, clipping, schedules, early stopping,
checkpoints that resume to the same weights bit for bit.

Determinism: step k seeds torch with ``(seed, k)`` before its batch and its dropout masks are drawn,
and every task draws batch k from ``(seed, k)`` alone, so a resumed run replays exactly the steps an
uninterrupted run would have taken.
"""
from __future__ import annotations

import csv
import io
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from .batches import shard_batch, to_device
from .checkpoint import (atomic_write_bytes, load_checkpoint, optimizer_from_tensors, save_checkpoint,
                         save_model)
from ..errors import DiskFull, UserError
from .distributed import Placement
from ..options import check_config, option
from ..state import detach_state, leaves, map_state



@dataclass
class TrainConfig:
    """How to train; every field is a ``rnnkit train`` flag."""

    steps: int = option("training steps (updates); also the schedule's horizon", 2000, at_least=1)
    batch_size: int = option("sequences per batch", 32, at_least=1, at_most=1_000_000)
    optimizer: str = option("sgd, adam, adamw or rmsprop", "adam", choices=("sgd", "adam", "adamw", "rmsprop"))
    lr: float = option("learning rate", 2e-3, above=0.0)
    momentum: float = option("SGD and RMSProp momentum", 0.0, at_least=0.0, below=1.0)
    rmsprop_alpha: float = option("RMSProp's decay of the squared-gradient average (PyTorch 0.99; TensorFlow, "
                                  "Keras and the EUNN authors 0.9)", 0.99, above=0.0, below=1.0)
    weight_decay: float = option("weight decay (decoupled for adamw)", 0.0, at_least=0.0)
    clip_norm: float = option("clip the global gradient norm to this (0: off)", 5.0, at_least=0.0)
    clip_value: float = option("clip each gradient entry to [-v, v] (0: off)", 0.0, at_least=0.0)
    schedule: str = option("learning-rate schedule: constant, cosine, linear or step (x0.5 every quarter)",
                          default="constant", choices=("constant", "cosine", "linear", "step"))
    warmup_steps: int = option("linear warm-up steps", 0, at_least=0)
    eval_every: int = option("validate and checkpoint every N steps", 200, at_least=1)
    patience: int = option("stop after N validations without improvement (0: never)", 0, at_least=0)
    seed: int = option("random seed: same seed, same run", 0, at_least=0, below=2 ** 62)
    max_time: float = option("stop after this many seconds of training (0: no limit)", 0.0, at_least=0.0)
    log_every: int = option("log the training loss every N steps (0: about 50 points per run, by steps or by "
                            "--max-time)", 0, at_least=0)

    def validate(self) -> None:
        check_config(self)


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """The optimizer of ``params``: tensors, or groups (dicts with ``params`` and the group's own keys)."""
    params = list(params)
    if params and isinstance(params[0], dict):
        params = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in params]
    else:
        params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":      # the EUNN authors' optimizer (Jing et al. 2017), momentum as --momentum
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.rmsprop_alpha, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """The schedule at ``step`` (0-based): warm-up, then constant / cosine / linear / step decay.

    >>> cfg = TrainConfig(steps=100, lr=1.0, schedule="cosine", warmup_steps=10)
    >>> learning_rate(cfg, 0), learning_rate(cfg, 10), round(learning_rate(cfg, 99), 4)
    (0.1, 1.0, 0.0003)
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(cfg.steps - cfg.warmup_steps, 1)
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))
    if cfg.schedule == "linear":
        return cfg.lr * (1 - progress)
    if cfg.schedule == "step":
        return cfg.lr * 0.5 ** int(4 * progress)
    return cfg.lr


def step_seed(seed: int, step: int) -> int:
    """The torch seed of one training step."""
    return (seed * 1_000_003 + step) % (2 ** 63)


def init_seed(seed: int) -> int:
    """The torch seed of a run's initial weights (apart from every step's seed)."""
    return (seed * 1_000_003 + 2 ** 61) % (2 ** 63)


class Diverged(UserError):
    """A non-finite loss or gradient: the run stops with one line naming the step."""


class SimulatedCrash(RuntimeError):
    """Raised by ``Trainer.fit(crash_after=k)``: the tests' stand-in for a killed process."""


LONG_RUN_CHECK_S = 30     # seconds of training after which the whole run's length is judged (the rate has settled)
LONG_RUN_S = 3600         # a run expected to train longer than this says so


def warn_if_long(cfg: TrainConfig, done: int, elapsed: float, step: int) -> str | None:
    """One line on stderr when the steps left, at the rate of the ``done`` steps in ``elapsed`` seconds, take
    longer than ``LONG_RUN_S`` (and no ``--max-time`` stops the run sooner); the line, or None.

    >>> warn_if_long(TrainConfig(steps=10_000), done=10, elapsed=30.0, step=10)[:44]
    'this run will train for about 8.3 h more at '
    >>> warn_if_long(TrainConfig(steps=100), done=10, elapsed=30.0, step=10) is None
    True
    """
    left = (cfg.steps - step) * elapsed / max(done, 1)
    if cfg.max_time:
        left = min(left, cfg.max_time - elapsed)
    if left <= LONG_RUN_S:
        return None
    line = (f"this run will train for about {left / 3600:.1f} h more at {elapsed / max(done, 1):.2f} s a step "
            f"({cfg.steps - step} steps left); --max-time SECONDS or --max-steps N caps it")
    print(line, file=sys.stderr, flush=True)
    return line


class Trainer:
    """Fits a task's model in a run folder; see the module docstring for the guarantees.

    A task supplies ``train_batch(step, batch_size)``, ``loss(model, batch, carry) -> (loss, carry, items)``,
    ``evaluate(model) -> dict``, ``initial_carry(model, batch_size)`` (None for whole-sequence BPTT),
    ``primary`` (the metric early stopping watches) and ``higher_is_better``.
    """

    def __init__(self, task, model: nn.Module, cfg: TrainConfig, run_dir: Path, *, placement: Placement | None = None,
                 progress: bool = True, figures: bool = True):
        cfg.validate()
        self.place = placement or Placement(torch.device("cpu"))
        self.place.check_batch(cfg.batch_size)
        self.task, self.cfg, self.run_dir = task, cfg, Path(run_dir)
        self.model = model.to(self.place.device)             # the model itself: evaluation, checkpoints
        self.net = self.model                                # what the loss calls: DDP across processes
        if self.place.distributed:
            from torch.nn.parallel import DistributedDataParallel
            self.net = DistributedDataParallel(self.model)
        self.opt = make_optimizer(cfg, task.param_groups(self.model))
        self.scaler = self.place.grad_scaler()
        self.step, self.best, self.bad_evals, self.history = 0, None, 0, []
        self.carry = None                                    # this rank's streams' state (truncated BPTT)
        self.progress = progress                             # the progress bar (rank 0)
        self.figures = figures                               # learning_curve.png (off: a run no one will look at)
        self.board = None                                    # TensorBoard event files, during ``fit``

    @property
    def local_batch(self) -> int:
        return self.cfg.batch_size // self.place.world_size

    # ------------------------------------------------------------------ checkpoint
    def _save(self) -> None:
        """Every rank takes part (the carried state is gathered from all ranks' streams); rank 0 writes."""
        carry = [self.place.gather_rows(t) for t in leaves(self.carry)]
        if self.place.is_main:
            save_checkpoint(self.run_dir, self.model, self.opt, {f"carry.{i}": t for i, t in enumerate(carry)},
                            {"step": self.step, "best": self.best, "bad_evals": self.bad_evals,
                             "history": self.history, "has_carry": self.carry is not None})

    def resume(self) -> bool:
        """Load the last checkpoint of the run folder, if any (every rank the same one); True when one was loaded."""
        warn = (lambda line: print(line, file=sys.stderr)) if self.place.is_main else None
        found = load_checkpoint(self.run_dir, warn=warn)
        if found is None:
            return False
        model_tensors, opt_tensors, trainer = found
        self.model.load_state_dict(model_tensors)
        optimizer_from_tensors(self.opt, {k[4:]: v.to(self.place.device) for k, v in opt_tensors.items()
                                          if k.startswith("opt.")}, trainer["optimizer"])
        self.step, self.best, self.bad_evals = trainer["step"], trainer["best"], trainer["bad_evals"]
        self.history = trainer["history"]
        if trainer["has_carry"]:
            rows = self.place.shard(self.cfg.batch_size)
            saved = iter(opt_tensors[k][rows].to(self.place.device)
                         for k in sorted((k for k in opt_tensors if k.startswith("extra.carry.")),
                                         key=lambda k: int(k.rsplit(".", 1)[1])))
            template = self.task.initial_carry(self.model, self.local_batch)
            self.carry = map_state(lambda _: next(saved), template)
        return True

    # ------------------------------------------------------------------ metrics
    def _write_metrics(self) -> None:
        if not self.history:
            return
        first = ["step", "elapsed_s", "lr", "train_loss"]
        keys = first + sorted({k for row in self.history for k in row} - set(first))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.history)
        atomic_write_bytes(self.run_dir / "metrics.csv", buf.getvalue().encode())
        if self.figures:
            self._plot()

    def _plot(self) -> None:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        train = [(r["step"], r["train_loss"]) for r in self.history if r.get("train_loss") not in (None, "")]
        valid = [(r["step"], r["valid_loss"]) for r in self.history if r.get("valid_loss") not in (None, "")]
        for points, label, style in ((train, "training loss", "-"), (valid, "validation loss", "o-")):
            if points:
                ax.plot(*zip(*points), style, label=label, markersize=4)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(f"{self.task.name}: learning curve")
        if train or valid:
            ax.legend()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        atomic_write_bytes(self.run_dir / "learning_curve.png", buf.getvalue())

    def _improved(self, value: float) -> bool:
        """Better than the best so far on the primary metric (what early stopping's patience waits for)."""
        if self.best is None:
            return True
        return value > self.best if self.task.higher_is_better else value < self.best

    # ------------------------------------------------------------------ loop
    def _validate(self, train_loss: float | None, elapsed: float) -> bool:
        """Validate, record, save the best model and a checkpoint; True when early stopping says stop.
        Rank 0 validates and writes; every rank gets its decision."""
        if not self.place.is_main:
            self._save()
            return self.place.broadcast_flag(False)
        metrics = self.task.evaluate(self.model)
        row = {"step": self.step, "elapsed_s": round(elapsed, 3), "lr": learning_rate(self.cfg, self.step - 1),
               "train_loss": train_loss, **{f"valid_{k}": v for k, v in metrics.items()}}
        self._record(row)
        if self.board is not None:
            self.board.validation(self.step, metrics)
        value = metrics[self.task.primary]
        improved = self._improved(value)
        # a tie keeps the later checkpoint but does not reset patience: a small validation set scores many
        # checkpoints alike (three series can only score 0, 1/3, 2/3 or 1), the first of them the least trained
        if improved or value == self.best or self.task.keeps_last:
            save_model(self.run_dir / "model.safetensors", self.model)
        if improved:
            self.best, self.bad_evals = value, 0
        else:
            self.bad_evals += 1
        self._save()
        self._write_metrics()
        return self.place.broadcast_flag(bool(self.cfg.patience) and self.bad_evals >= self.cfg.patience)

    def _record(self, row: dict) -> None:
        """One metrics row per step: a validation at a step already logged fills in that row."""
        if self.history and self.history[-1]["step"] == row["step"]:
            self.history[-1].update({k: v for k, v in row.items() if v is not None})
        else:
            self.history.append(row)

    def _log_due(self, elapsed: float, last_log: float) -> bool:
        """Training-loss rows: every ``log_every`` steps, or about 50 per run (by steps, or by the time budget)."""
        cfg = self.cfg
        every = cfg.log_every or max(1, cfg.steps // 50)
        if self.step % every == 0:
            return True
        return not cfg.log_every and bool(cfg.max_time) and elapsed - last_log >= cfg.max_time / 50

    def _step(self) -> tuple[float, int, float]:
        """One update; (loss, items, gradient norm before clipping). Raises ``Diverged`` without touching the
        weights when the loss or the gradient is not finite."""
        cfg, place = self.cfg, self.place
        # dropout and zoneout masks come from (seed, step, rank): rank 0's are those of a single process
        torch.manual_seed(step_seed(cfg.seed, self.step) + place.rank * 7_919)
        self.model.train()
        batch = to_device(shard_batch(self.task.train_batch(self.step, cfg.batch_size), place.shard(cfg.batch_size),
                                      cfg.batch_size), place.device)
        if self.carry is None or self.task.starts_stream(self.step, cfg.batch_size):
            self.carry = self.task.initial_carry(self.model, self.local_batch)
        with place.autocast():
            loss, carry, items = self.task.loss(self.net, batch, self.carry)
        value = place.mean(loss.item())                          # every rank takes the same decision
        if not math.isfinite(value):
            raise Diverged(f"training diverged at step {self.step + 1}: the loss is {value}")
        self.opt.zero_grad(set_to_none=True)
        (self.scaler.scale(loss) if self.scaler else loss).backward()
        if self.scaler:
            self.scaler.unscale_(self.opt)
        params = [p for p in self.model.parameters() if p.grad is not None]
        if cfg.clip_value:
            nn.utils.clip_grad_value_(params, cfg.clip_value)
        norm = nn.utils.clip_grad_norm_(params, cfg.clip_norm or math.inf)   # by inf: the norm, grads unchanged
        if not math.isfinite(float(norm)) and not self.scaler:    # fp16's scaler skips such a step itself
            raise Diverged(f"training diverged at step {self.step + 1}: the gradient norm is {float(norm)}")
        for group in self.opt.param_groups:   # a group may train at a share of the rate, or not yet (ULMFiT)
            scale = group.get("lr_factor", 1.0) if self.step >= group.get("start_step", 0) else 0.0
            group["lr"] = learning_rate(cfg, self.step) * scale
        if self.scaler:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        self.carry = detach_state(carry)
        self.step += 1
        return value, items * place.world_size, float(norm)

    def fit(self, *, crash_after: int | None = None, board=None) -> dict[str, float]:
        """Train to ``cfg.steps`` (or the time budget, or early stopping); returns the final validation metrics.
        ``board`` (``rnnkit.runtime.tensorboard.Board``) receives every training-loss row and validation as it is logged.

        A non-finite loss or gradient stops the run with ``Diverged`` before the update, so the weights
        stay the last finite ones; they are written as the result when no validation has saved one."""
        cfg, start = self.cfg, time.perf_counter()
        self.board = board
        bar = tqdm(total=cfg.steps, initial=self.step, unit="step", file=sys.stderr, dynamic_ncols=True,
                   mininterval=0.5 if sys.stderr.isatty() else 10.0, delay=1.0, leave=False,
                   disable=not (self.place.is_main and self.progress))
        losses: list[float] = []          # since the last validation
        logged: list[float] = []          # since the last training-loss row
        norms: list[float] = []           # gradient norms since the last training-loss row
        last_log, items_done, items_logged = 0.0, 0, 0
        stopped_early, first_step, warned = False, self.step, False
        try:
            while self.step < cfg.steps:
                elapsed = time.perf_counter() - start
                if cfg.max_time and self.place.broadcast_flag(elapsed >= cfg.max_time):   # rank 0's clock
                    break
                try:
                    value, items, norm = self._step()
                except Diverged:
                    if self.place.is_main and not (self.run_dir / "model.safetensors").exists():
                        save_model(self.run_dir / "model.safetensors", self.model)
                    raise
                losses.append(value)
                logged.append(value)
                norms.append(norm)
                items_done += items
                elapsed = time.perf_counter() - start
                bar.update(1)
                if not warned and elapsed >= LONG_RUN_CHECK_S and self.place.is_main:
                    warned = True
                    warn_if_long(cfg, self.step - first_step, elapsed, self.step)
                bar.set_postfix_str(f"loss {value:.4f}  {items_done / max(elapsed, 1e-9):,.0f} {self.task.unit}/s",
                                    refresh=False)
                logged_now = self.place.is_main and self._log_due(elapsed, last_log)
                if logged_now:
                    row = {"step": self.step, "elapsed_s": round(elapsed, 3), "lr": learning_rate(cfg, self.step - 1),
                           "train_loss": sum(logged) / len(logged)}
                    self._record(row)
                    if board is not None:
                        board.training(row, grad_norm=sum(norms) / len(norms), unit=self.task.unit,
                                       throughput=(items_done - items_logged) / max(elapsed - last_log, 1e-9))
                    logged, norms, last_log, items_logged = [], [], elapsed, items_done
                if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                    # the row just logged keeps its own window's training loss
                    stop = self._validate(None if logged_now else sum(losses) / len(losses), elapsed)
                    losses = []
                    if stop:
                        stopped_early = True
                        break
                if crash_after is not None and self.step >= crash_after:
                    raise SimulatedCrash(f"simulated crash after step {self.step}")
            if losses:  # stopped by the time budget between validations
                self._validate(sum(losses) / len(losses), time.perf_counter() - start)
        except DiskFull as e:   # every write is whole or absent: what was saved so far resumes
            saved = any((self.run_dir / n).exists() for n in ("checkpoint", "checkpoint.old", "model.safetensors"))
            raise (e.again(hint="free space and run again with --resume") if saved else e) from None
        finally:
            bar.close()
        if stopped_early and self.place.is_main:
            print(f"early stopping: no improvement in {cfg.patience} validations", file=sys.stderr)
        final = next((r for r in reversed(self.history) if any(k.startswith("valid_") for k in r)), {})
        return {k[len("valid_"):]: v for k, v in final.items() if k.startswith("valid_")}
