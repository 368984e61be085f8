"""Long-range memory: the copy and adding problems (``rnnkit train memory --problem copy|adding``).

Sequences are generated from the seed (``rnnkit.data.memory``); the validation set is fixed. The
reported ``ratio`` is the loss over the no-memory baseline (copy: ``10 log 8 / (T + 20)``; adding:
1/6), so 1 means nothing was remembered and 0.01 is the usual bar for "solved".
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..runtime.batches import Batch
from ..data.memory import ADDING_BASELINE, COPY_SYMBOLS, adding_batch, copy_baseline, copy_batch
from ..errors import UserError
from ..models import SequenceModel
from ..options import option
from ..state import State
from .base import GeneratedTask, device_of


@dataclass
class MemoryConfig:
    problem: str = option("copy (recall 10 symbols after a lag) or adding (sum two marked values)", "copy",
                          choices=("copy", "adding"))
    lag: int = option("T: the copy problem's delay, the adding problem's length", 100, at_least=2, at_most=1_000_000)
    valid_size: int = option("held-out sequences for validation", 500, at_least=1, at_most=100_000)


class Memory(GeneratedTask):
    name = "memory"
    gradient_curves = True
    Config = MemoryConfig
    primary = "loss"
    higher_is_better = False
    model_defaults = {"hidden_size": 128}
    train_defaults = {"steps": 2000, "batch_size": 32, "lr": 1e-3, "eval_every": 200, "clip_norm": 1.0}

    reader = "a model of the memory problems"

    @classmethod
    def generated_meta(cls, cfg: MemoryConfig) -> dict:
        return {"problem": cfg.problem, "lag": cfg.lag}

    def _generate(self, n: int, g: torch.Generator) -> Batch:
        make = copy_batch if self.cfg.problem == "copy" else adding_batch
        x, y = make(n, self.cfg.lag, g)
        return Batch(x, None, y)

    def load_eval_data(self, data) -> None:
        if data:
            raise UserError(f"the memory task evaluates on generated sequences; expected no --data, received {data!r}")
        self.valid = self._generate(self.cfg.valid_size, torch.Generator().manual_seed(self.seed * 7_919 + 1))

    def build_model(self) -> SequenceModel:
        if self.cfg.problem == "copy":
            return SequenceModel(self.model_cfg, vocab_size=COPY_SYMBOLS, embed_size=COPY_SYMBOLS,
                                 output_size=COPY_SYMBOLS - 1)
        return SequenceModel(self.model_cfg, input_size=2, output_size=1, readout="last")

    def train_batch(self, step: int, batch_size: int) -> Batch:
        return self._generate(batch_size, torch.Generator().manual_seed(self.train_seed(step)))

    def _loss(self, out: Tensor, y: Tensor) -> Tensor:
        if self.cfg.problem == "copy":
            return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        return F.mse_loss(out, y)

    def loss(self, model: nn.Module, batch: Batch, carry: State) -> tuple[Tensor, State, int]:
        out, _ = model(batch.x)
        return self._loss(out, batch.y.to(out.device)), None, len(batch.x)

    def diagnose_title(self) -> str:
        return f"{self.model_cfg.cell} on {self.cfg.problem}, T = {self.cfg.lag}"

    def late_loss(self, model: nn.Module, n: int):
        """``n`` validation sequences as the model's input features (B, T, D), and the loss at their last
        step from the last output (B, O): ``rnnkit.tools.diagnostics`` measures how much that loss feels each
        earlier state (copy: the last recalled symbol, stored T + 10 steps before; adding: the sum)."""
        x, y = self.valid.x[:n].to(model.device), self.valid.y[:n].to(model.device)
        if self.cfg.problem == "copy":
            return model.features(x), lambda y_T: F.cross_entropy(model.head(y_T), y[:, -1])
        return model.features(x), lambda y_T: F.mse_loss(model.head(y_T), y)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        model.eval()
        total, n = 0.0, 0
        right = 0
        for a in range(0, len(self.valid.x), 256):
            x, y = self.valid.x[a:a + 256], self.valid.y[a:a + 256].to(device_of(model))
            out, _ = model(x)
            total += self._loss(out, y).item() * len(x)
            n += len(x)
            if self.cfg.problem == "copy":
                right += (out[:, -10:].argmax(-1) == y[:, -10:]).all(-1).sum().item()
        loss = total / n
        baseline = copy_baseline(self.cfg.lag) if self.cfg.problem == "copy" else ADDING_BASELINE
        metrics = {"loss": loss, "baseline": baseline, "ratio": loss / baseline}
        if self.cfg.problem == "copy":
            metrics["recalled"] = right / n                                   # all 10 symbols right
        return metrics
