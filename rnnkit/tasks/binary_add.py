"""binary-add: adding two binary numbers bit by bit, trained on short numbers and scored on long ones.

The Simple RNNs post (*An introduction to recurrent neural networks: Simple RNNs*, the paragraph "Traditional
feed forward neural networks work by…") says a fixed-size network "trained to perform addition on 4 digit
numbers" cannot add 5 digit ones, and that recurrent networks are the way out. This task measures the way out:
the model reads a and b least-significant bit first, one bit position a step, and emits the sum's bit at each
step; it trains on numbers of ``--min-bits``..``--max-bits`` bits (1..8) and is scored on exactly 8, 16 and
32 bits as well.

Step t (t = 0..n) reads ``x_t = (a_t, b_t)``, with ``a_n = b_n = 0`` (the extra step that lets the last carry
out), and predicts ``y_t = (a + b)_t``, bit t of the sum: ``y_t = a_t xor b_t xor c_t`` with the carry
``c_(t+1) = maj(a_t, b_t, c_t)``, ``c_0 = 0``. A model that keeps c_t in its state adds numbers of any length.
The two bits are two input features rather than one of four tokens: the sum bit depends on ``a_t + b_t`` and
the carry, which the features give the cell directly, and the extra step's zeros are the same input as a
leading-zero bit position, which it is (a and b extended by a zero bit have the same sum).
No data file is needed: training batch k comes from the seed and k alone, the validation sets from seeds no
training batch uses.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.padding import pad_sequences
from ..errors import UserError
from ..models import SequenceModel
from ..options import option
from ..state import State
from .base import Batch, GeneratedTask

LONG_BITS = (8, 16, 32)      # the exact lengths scored beside the training lengths: sum_accuracy_8, _16, _32


def encode(a: int, b: int, n: int) -> tuple[Tensor, Tensor]:
    """The example for ``a + b`` on ``n`` bit positions (a, b < 2^n): inputs x (n + 1, 2), x_t = (a_t, b_t),
    the last row zeros; targets y (n + 1,), y_t = bit t of a + b. Least-significant bit first.

    >>> x, y = encode(5, 3, 3)                     # 101 + 011 = 1000
    >>> x.tolist(), y.tolist()
    ([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]], [0.0, 0.0, 0.0, 1.0])
    """
    s = a + b
    x = torch.tensor([[(a >> t) & 1, (b >> t) & 1] for t in range(n)] + [[0, 0]], dtype=torch.float32)
    y = torch.tensor([(s >> t) & 1 for t in range(n + 1)], dtype=torch.float32)
    return x, y


def decode(bits) -> int:
    """The integer whose bits, least-significant first, are ``bits`` (0/1 values or a tensor of them).

    >>> decode([0, 0, 0, 1])
    8
    """
    return sum(int(v) << t for t, v in enumerate(bits))


def draw(count: int, min_bits: int, max_bits: int, g: torch.Generator) -> tuple[list[int], list[int], list[int]]:
    """``count`` examples (a, b, n): n uniform in [min_bits, max_bits], then every bit of a and b a fair coin."""
    ns = torch.randint(min_bits, max_bits + 1, (count,), generator=g).tolist()
    a_s, b_s = [], []
    for n in ns:
        bits = torch.randint(0, 2, (2, n), generator=g).tolist()
        a_s.append(decode(bits[0]))
        b_s.append(decode(bits[1]))
    return a_s, b_s, ns


def batch_of(a_s: list[int], b_s: list[int], ns: list[int]) -> Batch:
    """Examples padded to the longest: x (B, T, 2), lengths (B,) = n + 1, y (B, T); padding is zeros."""
    xs, ys = zip(*(encode(a, b, n) for a, b, n in zip(a_s, b_s, ns)))
    x, lengths = pad_sequences(xs)
    y, _ = pad_sequences(ys)
    return Batch(x, lengths, y)


def live_steps(lengths: Tensor, T: int) -> Tensor:
    """(B, T) bool: True at a sequence's own steps, False at its padding."""
    return torch.arange(T).unsqueeze(0) < lengths.cpu().unsqueeze(1)


@dataclass
class BinaryAddConfig:
    min_bits: int = option("training numbers: fewest bits n (n drawn uniformly per example)", 1, at_least=1,
                           at_most=100_000)
    max_bits: int = option("training numbers: most bits n", 8, at_least=1, at_most=100_000)
    valid_size: int = option("held-out sums in each validation set (training lengths; 8, 16 and 32 bits)", 500,
                             at_least=1, at_most=1_000_000)


class BinaryAdd(GeneratedTask):
    name = "binary-add"
    predicts = True
    Config = BinaryAddConfig
    primary = "sum_accuracy"
    higher_is_better = True
    model_defaults = {"cell": "elman", "hidden_size": 16}        # the post's simple RNN
    train_defaults = {"steps": 1000, "batch_size": 32, "lr": 1e-2, "eval_every": 100, "clip_norm": 1.0}

    generates = "numbers"
    reader = "bit-serial addition"

    @classmethod
    def generated_meta(cls, cfg: BinaryAddConfig) -> dict:
        if cfg.min_bits > cfg.max_bits:
            raise UserError(f"expected --min-bits at most --max-bits; received {cfg.min_bits} > {cfg.max_bits}")
        return {"min_bits": cfg.min_bits, "max_bits": cfg.max_bits}

    def load_eval_data(self, data) -> None:
        """The validation sets: ``valid_size`` sums at the training lengths and at each of ``LONG_BITS``, each from
        its own negative seed (training batches use seeds >= 0)."""
        if data:
            raise UserError(f"the {self.name} task evaluates on generated numbers; expected no --data, "
                            f"received {data!r}")
        cfg = self.cfg

        def generated(k: int, lo: int, hi: int) -> Batch:
            return batch_of(*draw(cfg.valid_size, lo, hi, torch.Generator().manual_seed(-1 - 8 * self.seed - k)))
        self.valid = {"": generated(0, cfg.min_bits, cfg.max_bits)}
        for k, n in enumerate(LONG_BITS, 1):
            self.valid[f"_{n}"] = generated(k, n, n)

    def build_model(self) -> SequenceModel:
        return SequenceModel(self.model_cfg, input_size=2, output_size=1, readout="all")

    def train_batch(self, step: int, batch_size: int) -> Batch:
        g = torch.Generator().manual_seed(self.train_seed(step))
        return batch_of(*draw(batch_size, self.cfg.min_bits, self.cfg.max_bits, g))

    @staticmethod
    def masked_loss(logits: Tensor, batch: Batch) -> Tensor:
        """Mean binary cross-entropy of the sum bits over the sequences' own steps; logits (B, T, 1)."""
        live = live_steps(batch.lengths, logits.shape[1]).to(logits.device)                       # (B, T)
        per_bit = F.binary_cross_entropy_with_logits(logits[..., 0], batch.y.to(logits.device), reduction="none")
        return (per_bit * live).sum() / live.sum()

    def loss(self, model: nn.Module, batch: Batch, carry: State) -> tuple[Tensor, State, int]:
        logits, _ = model(batch.x, batch.lengths)                                                  # (B, T, 1)
        return self.masked_loss(logits, batch), None, len(batch.lengths)

    @torch.no_grad()
    def scores(self, model: nn.Module, batch: Batch) -> tuple[float, float, float]:
        """(loss, bit accuracy, sum accuracy) on one set: a bit is right when its logit has the sign of the target
        bit, a sum when every bit of it is; padding never counts."""
        model.eval()
        logits, _ = model(batch.x, batch.lengths)
        logits = logits.cpu()
        live = live_steps(batch.lengths, logits.shape[1])                                           # (B, T)
        right = (logits[..., 0] > 0) == (batch.y > 0.5)                                             # (B, T)
        return (self.masked_loss(logits, batch).item(), (right & live).sum().item() / live.sum().item(),
                (right | ~live).all(1).float().mean().item())

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        loss, bit_accuracy, sum_accuracy = self.scores(model, self.valid[""])
        metrics = {"sum_accuracy": sum_accuracy, "bit_accuracy": bit_accuracy, "loss": loss}
        for suffix, batch in self.valid.items():
            if suffix:
                metrics[f"sum_accuracy{suffix}"] = self.scores(model, batch)[2]
        return metrics

    def predict(self, model: nn.Module, text: str) -> list[str]:
        """The model's sum of ``A+B``: both in binary when both are 0s and 1s (or carry the prefix 0b), else in
        decimal; the sum is shown in binary, most-significant bit first, with n + 1 bits for n-bit operands."""
        a, b, base = parse_sum(text)
        n = max(a.bit_length(), b.bit_length(), 1)
        x, y = encode(a, b, n)
        logits, _ = model.eval()(x.unsqueeze(0))
        guess = (logits[0, :, 0].cpu() > 0).long().tolist()
        msb = lambda bits: "".join(str(int(v)) for v in reversed(bits))  # noqa: E731 - printing order
        lines = [f"read as {base}: {a:b} + {b:b} = {a} + {b}",
                 f"model: {msb(guess)} = {decode(guess)}",
                 f"sum:   {msb(y.tolist())} = {a + b}"]
        wrong = [t for t, (g, v) in enumerate(zip(guess, y.tolist())) if g != int(v)]
        lines.append("right" if not wrong else f"WRONG at bit{'s' if len(wrong) > 1 else ''} "
                     f"{', '.join(map(str, wrong))} (bit 0: the least significant)")
        return lines


NUMBER = re.compile(r"(0b[01]+|[0-9]+)")


def parse_sum(text: str) -> tuple[int, int, str]:
    """(a, b, "binary" or "decimal") from ``"A+B"``.

    >>> parse_sum("1011+110"), parse_sum("5 + 3"), parse_sum("0b10+3")
    ((11, 6, 'binary'), (5, 3, 'decimal'), (2, 3, 'binary and decimal'))
    """
    parts = [p.strip() for p in text.split("+")]
    if len(parts) != 2 or not all(NUMBER.fullmatch(p) for p in parts):
        raise UserError(f"expected two non-negative whole numbers as A+B, in binary (1011+110) or decimal (5+3); "
                        f"received {text!r}")
    plain = [p for p in parts if not p.startswith("0b")]
    binary = all(set(p) <= {"0", "1"} for p in plain)
    a, b = (int(p, 0) if p.startswith("0b") else int(p, 2 if binary else 10) for p in parts)
    return a, b, "binary" if binary else "decimal" if len(plain) == 2 else "binary and decimal"
