"""charlm: a character- or byte-level language model on any text file (Albert's notes and the ML@B slides, char-rnn).

Training is truncated BPTT as char-rnn does it: the training text is cut into ``batch_size``
contiguous streams; batch k reads the k-th window of ``seq_len`` symbols of every stream, and the
state is carried from one window to the next (detached at the border), restarting at each pass.
The validation text (the last ``valid_fraction`` of the file) is scored the same way, in bits per
character (or per byte).
"""
from __future__ import annotations

import math
import string
from functools import cached_property
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.text import read_text
from ..data.tokens import token_file
from ..data.vocab import Vocab
from ..errors import UserError
from ..models import LanguageModel, RecurrentConfig
from ..options import option
from ..state import State
from .base import device_of, Batch, Task, data_path



@dataclass
class CharLMConfig:
    level: str = option("char (UTF-8 characters), byte, or auto (char when the file is UTF-8)", "auto", choices=("char", "byte", "auto"))
    seq_len: int = option("BPTT window length (T)", 100, at_least=1, at_most=10_000_000)
    valid_fraction: float = option("share of the text, from its end, held out for validation", 0.1, above=0.0, below=1.0)
    embed_size: int = option("symbol embedding size", 64, at_least=1, at_most=65536)
    eval_chars: int = option("validate on at most this many held-out symbols (0: all)", 100_000, at_least=0)


class CharLM(Task):
    name = "charlm"
    gradient_curves = True
    streams_text = True
    in_memory = "text"
    Config = CharLMConfig
    primary = "bpc"
    higher_is_better = False
    unit = "char"
    # one LSTM layer of 256: the lowest bits per character of the shapes tried in a fixed CPU budget (RESULTS.md)
    model_defaults = {"hidden_size": 256, "num_layers": 1, "dropout": 0.0}
    train_defaults = {"steps": 2000, "batch_size": 32, "lr": 3e-3, "eval_every": 200}

    # ------------------------------------------------------------------ data
    @classmethod
    def prepare(cls, cfg: CharLMConfig, model_cfg: RecurrentConfig, data, *, seed: int = 0) -> "CharLM":
        if cfg.level not in ("char", "byte", "auto"):
            raise UserError(f"--level must be char, byte or auto; received {cfg.level!r}")
        if not 0 < cfg.valid_fraction < 1:
            raise UserError(f"--valid-fraction must be in (0, 1); received {cfg.valid_fraction}")
        ids, symbols, level = token_file(data_path(data, cls.name), cfg.level)   # memory-mapped, encoded once
        task = cls(cfg, model_cfg, {"level": level, "vocab": symbols, "data": str(data)}, seed=seed)
        cut = int(len(ids) * (1 - cfg.valid_fraction))
        task.train_ids, task.valid_ids = ids[:cut], ids[cut:]
        if len(task.valid_ids) < 2:
            raise UserError(f"expected a text long enough to hold out {cfg.valid_fraction:.0%} for validation; "
                            f"{data} has {len(ids)} symbols")
        return task

    @cached_property
    def vocab(self) -> Vocab:
        return Vocab(self.meta["vocab"])

    def encode(self, text: str) -> list[int]:
        """Ids of a prime text; a symbol outside the vocabulary is one clear error."""
        seq = text.encode("utf-8") if self.meta["level"] == "byte" else text
        return self.vocab.encode(seq)

    def decode(self, ids: list[int]) -> str:
        if self.meta["level"] == "byte":
            return bytes(self.vocab.symbols[i] for i in ids).decode("utf-8", errors="replace")
        return "".join(self.vocab.symbols[i] for i in ids)

    def diagnose_inputs(self, n: int) -> Tensor:
        """``n`` consecutive windows of ``seq_len`` validation symbols (fewer when the validation text is short)."""
        T = self.cfg.seq_len
        rows = min(n, len(self.valid_ids) // T)
        if rows < 1:
            raise UserError(f"expected at least --seq-len {T} validation symbols to diagnose; received "
                            f"{len(self.valid_ids)}")
        return torch.tensor(self.valid_ids[: rows * T], dtype=torch.long).view(rows, T)

    def load_eval_data(self, data) -> None:
        """A new text to score (in the run's vocabulary), or (None) the run's own held-out tail."""
        if data is None:
            ids, _, _ = token_file(data_path(self.meta["data"], self.name), self.meta["level"])
            self.valid_ids = ids[int(len(ids) * (1 - self.cfg.valid_fraction)):]
            return
        text, _ = read_text(data_path(data, self.name), self.meta["level"])
        self.valid_ids = np.asarray(self.vocab.encode(text), dtype=np.int64)

    def build_model(self) -> LanguageModel:
        return LanguageModel(self.model_cfg, len(self.meta["vocab"]), embed_size=self.cfg.embed_size)

    # ------------------------------------------------------------------ training
    def _streams(self, ids: np.ndarray, batch_size: int) -> np.ndarray:
        """The token stream cut into ``batch_size`` streams, (B, L): a view of the map, nothing read."""
        per_stream = len(ids) // batch_size
        if per_stream < self.cfg.seq_len + 1:
            raise UserError(f"expected at least batch_size x (seq_len + 1) = {batch_size * (self.cfg.seq_len + 1)} "
                            f"training symbols; the text has {len(ids)} (lower --batch-size or --seq-len)")
        return ids[: per_stream * batch_size].reshape(batch_size, per_stream)

    def windows(self, batch_size: int) -> int:
        L = len(self.train_ids) // batch_size
        return (L - 1) // self.cfg.seq_len

    def train_batch(self, step: int, batch_size: int) -> Batch:
        streams = self._streams(self.train_ids, batch_size)
        j = step % self.windows(batch_size)
        T = self.cfg.seq_len
        window = _long(streams[:, j * T:(j + 1) * T + 1])                          # (B, T+1) read from the map
        return Batch(window[:, :-1], None, window[:, 1:])

    def starts_stream(self, step: int, batch_size: int) -> bool:
        return step % self.windows(batch_size) == 0

    def initial_carry(self, model: nn.Module, batch_size: int) -> State:
        return model.initial_state(batch_size)

    def loss(self, model: nn.Module, batch: Batch, carry: State) -> tuple[Tensor, State, int]:
        logits, state = model(batch.x, state=carry)                            # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.y.reshape(-1))
        return loss, state, batch.x.numel()

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batch_size: int = 16) -> dict[str, float]:
        """Bits per symbol on the held-out text, read as ``batch_size`` streams with the state carried."""
        model.eval()
        ids = self.valid_ids[: self.cfg.eval_chars + 1] if self.cfg.eval_chars else self.valid_ids
        batch_size = max(1, min(batch_size, (len(ids) - 1) // 2))
        L = (len(ids) - 1) // batch_size
        x = ids[: L * batch_size].reshape(batch_size, L)                          # views of the map
        y = ids[1: L * batch_size + 1].reshape(batch_size, L)                     # stream b's next symbols
        state, total, count = None, 0.0, 0
        for a in range(0, L, 512):                                                # read 512 columns at a time
            xa, ya = _long(x[:, a:a + 512]).to(device_of(model)), _long(y[:, a:a + 512]).to(device_of(model))
            logits, state = model(xa, state=state)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ya.reshape(-1), reduction="sum").item()
            count += ya.numel()
        nats = total / count
        return {"bpc": nats / math.log(2), "loss": nats}

    # ------------------------------------------------------------------ generation
    def printable_mask(self) -> Tensor:
        """Albert's notes' filter: only ``string.printable`` symbols may be sampled."""
        if self.meta["level"] == "byte":
            return torch.tensor([chr(b) in string.printable for b in self.vocab.symbols])
        return torch.tensor([c in string.printable for c in self.vocab.symbols])


def _long(ids: np.ndarray) -> Tensor:
    """Token ids read from the map as an int64 tensor."""
    return torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))
