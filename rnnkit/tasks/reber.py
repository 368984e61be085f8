"""reber: next-symbol prediction on the (embedded) Reber grammar, as the Theano notebook trains its Elman network.

Inputs are one-hot symbols; the targets are the *sets* of symbols the grammar allows next, learned
with one independent sigmoid per symbol (the Theano notebook's output layer). A string is solved when every
predicted set (sigmoid > 0.5) equals the allowed set. The model then samples strings symbol by symbol
until ``E`` (the Theano notebook's sampling loop) and the share of them inside the grammar is reported.
No data file is needed: strings come from the grammar, training batch k from seed and k alone.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.padding import pad_sequences
from ..data.reber import SYMBOLS, ReberGrammar
from ..errors import UserError
from ..models import SequenceModel
from ..options import option
from ..state import State
from .base import Batch, GeneratedTask, equal_length



@dataclass
class ReberConfig:
    embedded: bool = option("the embedded Reber grammar (long-range dependency)", True)
    valid_strings: int = option("held-out strings for validation", 1000, at_least=1, at_most=10_000_000)
    samples: int = option("strings sampled from the model to check against the grammar (0: none)", 200, at_least=0, at_most=10_000_000)
    max_sample_len: int = option("give up on a sampled string after this many symbols", 60, at_least=1, at_most=100_000)


class Reber(GeneratedTask):
    name = "reber"
    gradient_curves = True
    predicts = True
    samples = True
    Config = ReberConfig
    primary = "solved"
    higher_is_better = True
    model_defaults = {"hidden_size": 32}
    train_defaults = {"steps": 2000, "batch_size": 32, "lr": 1e-2, "eval_every": 100, "clip_norm": 1.0}

    generates = "strings"
    reader = "next-symbol prediction"

    @classmethod
    def generated_meta(cls, cfg: ReberConfig) -> dict:
        return {"symbols": SYMBOLS}

    def grammar(self, seed: int) -> ReberGrammar:
        return ReberGrammar(embedded=self.cfg.embedded, seed=seed)

    def load_eval_data(self, data) -> None:
        """Held-out strings from a seed no training batch uses; or one string per line of ``data``."""
        if data:
            from ..data.text import read_text
            text, _ = read_text(data, "char")
            self.valid = [line.strip() for line in text.splitlines() if line.strip()]
            bad = [s for s in self.valid if not self.grammar(0).in_grammar(s)]
            if bad:
                raise UserError(f"expected strings of the {'embedded ' if self.cfg.embedded else ''}Reber grammar "
                                f"in {data}; received {len(bad)} outside it, e.g. {bad[0]!r}")
        else:
            g = self.grammar(-1 - self.seed)
            self.valid = [g.sample() for _ in range(self.cfg.valid_strings)]

    def build_model(self) -> SequenceModel:
        return SequenceModel(self.model_cfg, input_size=len(SYMBOLS), output_size=len(SYMBOLS))

    def _batch(self, strings: list[str]) -> Batch:
        g = self.grammar(0)
        xs, ys = zip(*(g.example(s) for s in strings))
        x, lengths = pad_sequences(xs)
        y, _ = pad_sequences(ys)
        return Batch(x, lengths, y)

    def diagnose_inputs(self, n: int) -> Tensor:
        return equal_length([ReberGrammar.one_hot(s) for s in self.valid], n)

    def train_batch(self, step: int, batch_size: int) -> Batch:
        g = self.grammar(self.train_seed(step))
        return self._batch([g.sample() for _ in range(batch_size)])

    def loss(self, model: nn.Module, batch: Batch, carry: State) -> tuple[Tensor, State, int]:
        logits, _ = model(batch.x, batch.lengths)                               # (B, T, 7)
        mask = (torch.arange(batch.x.shape[1]).unsqueeze(0) < batch.lengths.unsqueeze(1)).unsqueeze(-1)
        per_symbol = F.binary_cross_entropy_with_logits(logits, batch.y, reduction="none")
        return (per_symbol * mask).sum() / mask.sum(), None, len(batch.lengths)

    @torch.no_grad()
    def predictions(self, model: nn.Module):
        """On the held-out strings: (batch, logits (N, T, 7), right (N, T): the whole set right, mask (N, T))."""
        model.eval()
        batch = self._batch(self.valid)
        logits, _ = model(batch.x, batch.lengths)
        logits = logits.cpu()
        mask = torch.arange(batch.x.shape[1]).unsqueeze(0) < batch.lengths.unsqueeze(1)
        right = ((logits > 0) == (batch.y > 0.5)).all(-1)
        return batch, logits, right, mask

    def evaluate_solved(self, model: nn.Module) -> float:
        """Share of held-out strings with every next-symbol set right."""
        _, _, right, mask = self.predictions(model)
        return (right | ~mask).all(-1).float().mean().item()

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        batch, logits, right, mask = self.predictions(model)
        loss = (F.binary_cross_entropy_with_logits(logits, batch.y, reduction="none").sum(-1) * mask).sum() / mask.sum()
        metrics = {"solved": (right | ~mask).all(-1).float().mean().item(),
                   "symbol_acc": (right & mask).sum().item() / mask.sum().item(), "loss": loss.item()}
        if self.cfg.embedded:   # the second-to-last symbol must repeat the second
            idx = batch.lengths - 2
            metrics["long_range"] = right[torch.arange(len(idx)), idx].float().mean().item()
        if self.cfg.samples:
            metrics["in_grammar"] = self.sample_share(model)
        return metrics

    @torch.no_grad()
    def sample(self, model: nn.Module, rng: random.Random) -> str:
        """The Theano notebook's sampling: feed B, draw the next symbol from the normalised sigmoid outputs, until E."""
        out, state = "B", None
        x = ReberGrammar.one_hot("B").unsqueeze(0)
        for _ in range(self.cfg.max_sample_len):
            logits, state = model(x, state=state)
            p = torch.sigmoid(logits[0, -1]).tolist()
            symbol = rng.choices(SYMBOLS, weights=p)[0]
            out += symbol
            if symbol == "E":
                break
            x = ReberGrammar.one_hot(symbol).unsqueeze(0)
        return out

    def sample_share(self, model: nn.Module) -> float:
        rng = random.Random(self.seed)
        g = self.grammar(0)
        return sum(g.in_grammar(self.sample(model, rng)) for _ in range(self.cfg.samples)) / self.cfg.samples

    def sample_lines(self, model: nn.Module, count: int, *, seed: int | None = None) -> list[str]:
        """The Theano notebook's check: ``count`` strings sampled from the model, each with its verdict against the
        grammar, then the share inside it (the notebook's run: 17 of 20)."""
        if count < 1:
            raise UserError(f"--count must be at least 1; received {count}")
        rng = random.Random(seed)
        strings = [self.sample(model.eval(), rng) for _ in range(count)]
        verdicts = [self.grammar(0).in_grammar(s) for s in strings]
        lines = [f"{s}\t{'in grammar' if ok else 'NOT in grammar'}" for s, ok in zip(strings, verdicts)]
        return lines + [f"in grammar: {sum(verdicts)} of {count} ({sum(verdicts) / count:.0%})"]

    def predict(self, model: nn.Module, text: str) -> list[str]:
        """For a string's prefix, the predicted next-symbol sets with their probabilities, beside the sets the
        grammar allows (for a complete string of the grammar; the Theano notebook's per-step check)."""
        bad = sorted(set(text) - set(SYMBOLS))
        if not text or bad:
            raise UserError(f"expected a string over {SYMBOLS!r}; received {text!r}")
        logits, _ = model(ReberGrammar.one_hot(text).unsqueeze(0))
        logits = logits.cpu()
        allowed = self.grammar(0).allowed_next(text)
        lines = []
        for t, row in enumerate(torch.sigmoid(logits[0])):
            chosen = "".join(c for c, p in zip(SYMBOLS, row) if p > 0.5)
            probs = " ".join(f"{c}={p:.2f}" for c, p in zip(SYMBOLS, row.tolist()))
            truth = "" if allowed is None else (f"\tallowed {allowed[t] or '-'}\t"
                                                f"{'right' if set(chosen) == set(allowed[t]) else 'WRONG'}")
            lines.append(f"{text[:t + 1]}\t-> {chosen or '-'}\t{probs}{truth}")
        lines.append(f"in grammar: {self.grammar(0).in_grammar(text)}")
        return lines
