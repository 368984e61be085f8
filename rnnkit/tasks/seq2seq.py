"""seq2seq: many-to-one-to-many encoder-decoder (Albert's notes' sorting network; translation in the ML@B slides and the RNN 1 notes).

``--data sort`` (or no ``--data``) generates Albert's notes' problem: a random sequence of symbols in, the
same symbols sorted out. Any other ``--data`` is a TSV file of ``source<TAB>target`` lines, read as
characters or as space-separated words. Training uses teacher forcing; validation decodes greedily
(or with ``--beam N``) and reports exact-match accuracy, token accuracy and loss.
"""
from __future__ import annotations

import random
from functools import cached_property
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.padding import pad_sequences
from ..data.text import check_file
from ..data.vocab import Vocab
from ..errors import UserError
from ..models import RecurrentConfig, Seq2Seq
from ..options import option
from ..state import State
from ..batches import to_device
from .base import device_of, Batch, Task, epoch_indices, split_off

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = [PAD, BOS, EOS, UNK]



@dataclass
class Seq2SeqConfig:
    attention: str = option("none, additive (Bahdanau) or dot (Luong)", "additive", choices=("none", "additive", "dot"))
    beam: int = option("beam width for validation decoding (1: greedy)", 1, at_least=1, at_most=1000)
    tokens: str = option("char or word (TSV data)", "char", choices=("char", "word"))
    sort_symbols: int = option("sort data: size of the alphabet (digits 0..N-1)", 10, at_least=2, at_most=1000)
    sort_min_len: int = option("sort data: shortest sequence", 2, at_least=1)
    sort_max_len: int = option("sort data: longest sequence", 8, at_least=1, at_most=100_000)
    valid_size: int = option("sort data: held-out sequences", 500, at_least=1, at_most=10_000_000)
    valid_fraction: float = option("TSV data: share held out for validation", 0.1, above=0.0, below=1.0)
    embed_size: int = option("token embedding size", 32, at_least=1, at_most=65536)
    max_decode_len: int = option("longest output to decode (0: twice the longest training target + 2)", 0, at_least=0, at_most=100_000)


class Seq2SeqTask(Task):
    name = "seq2seq"
    Config = Seq2SeqConfig
    primary = "exact_match"
    higher_is_better = True
    needs_data = False
    model_defaults = {"hidden_size": 128}
    train_defaults = {"steps": 3000, "batch_size": 64, "lr": 3e-3, "eval_every": 250}

    # ------------------------------------------------------------------ data
    @classmethod
    def prepare(cls, cfg: Seq2SeqConfig, model_cfg: RecurrentConfig, data, *, seed: int = 0) -> "Seq2SeqTask":
        if cfg.attention not in ("none", "additive", "dot"):
            raise UserError(f"--attention must be none, additive or dot; received {cfg.attention!r}")
        if cfg.tokens not in ("char", "word"):
            raise UserError(f"--tokens must be char or word; received {cfg.tokens!r}")
        if not data or data == "sort":
            if not 1 <= cfg.sort_min_len <= cfg.sort_max_len or not 2 <= cfg.sort_symbols <= 1000:
                raise UserError("expected 1 <= --sort-min-len <= --sort-max-len and 2 <= --sort-symbols <= 1000; "
                                f"received {cfg.sort_min_len}, {cfg.sort_max_len}, {cfg.sort_symbols}")
            symbols = [str(i) for i in range(cfg.sort_symbols)]
            task = cls(cfg, model_cfg, {"data": "sort", "src_vocab": SPECIALS + symbols,
                                        "tgt_vocab": SPECIALS + symbols, "max_target": cfg.sort_max_len}, seed=seed)
            task.load_eval_data(None)
            return task
        pairs = cls._read_tsv(data, cfg)
        src_vocab = Vocab.build([s for s, _ in pairs], specials=SPECIALS).symbols
        tgt_vocab = Vocab.build([t for _, t in pairs], specials=SPECIALS).symbols
        task = cls(cfg, model_cfg, {"data": str(data), "src_vocab": src_vocab, "tgt_vocab": tgt_vocab,
                                    "max_target": max(len(t) for _, t in pairs)}, seed=seed)
        tr, va = split_off(len(pairs), cfg.valid_fraction, seed)
        task.train_pairs = [task.encode_pair(*pairs[i]) for i in tr]
        task.valid_pairs = [task.encode_pair(*pairs[i]) for i in va]
        return task

    @staticmethod
    def _split(text: str, cfg: Seq2SeqConfig) -> list[str]:
        return text.split() if cfg.tokens == "word" else list(text)

    @classmethod
    def _read_tsv(cls, data, cfg: Seq2SeqConfig) -> list[tuple[list[str], list[str]]]:
        path = check_file(data, "a TSV file of source<TAB>target lines")
        pairs = []
        for n, line in enumerate(path.read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 2:
                raise UserError(f"expected source<TAB>target on line {n} of {path}; received {len(parts)} field(s)")
            pairs.append((cls._split(parts[0], cfg), cls._split(parts[1], cfg)))
        if len(pairs) < 2:
            raise UserError(f"expected at least two source/target pairs in {path}; found {len(pairs)}")
        return pairs

    def sort_pairs(self, rng: random.Random, n: int) -> list[tuple[list[str], list[str]]]:
        out = []
        for _ in range(n):
            seq = [rng.randrange(self.cfg.sort_symbols) for _ in range(rng.randint(self.cfg.sort_min_len,
                                                                                   self.cfg.sort_max_len))]
            out.append(([str(v) for v in seq], [str(v) for v in sorted(seq)]))
        return out

    @cached_property
    def src_vocab(self) -> Vocab:
        return Vocab(self.meta["src_vocab"])

    @cached_property
    def tgt_vocab(self) -> Vocab:
        return Vocab(self.meta["tgt_vocab"])

    def encode_pair(self, src: list[str], tgt: list[str]) -> tuple[Tensor, Tensor]:
        s = self.src_vocab.encode(src, unk=UNK)
        t = self.tgt_vocab.encode(tgt, unk=UNK)
        return torch.tensor(s or [0]), torch.tensor([1] + t + [2])       # target framed by BOS ... EOS

    def load_eval_data(self, data) -> None:
        if self.meta["data"] == "sort" and not data:
            pairs = self.sort_pairs(random.Random(-1 - self.seed), self.cfg.valid_size)
            self.valid_pairs = [self.encode_pair(s, t) for s, t in pairs]
            return
        pairs = self._read_tsv(data or self.meta["data"], self.cfg)
        if not data:
            _, va = split_off(len(pairs), self.cfg.valid_fraction, self.seed)
            pairs = [pairs[i] for i in va]
        self.valid_pairs = [self.encode_pair(s, t) for s, t in pairs]

    def build_model(self) -> Seq2Seq:
        return Seq2Seq(self.model_cfg, len(self.meta["src_vocab"]), len(self.meta["tgt_vocab"]),
                       embed_size=self.cfg.embed_size, attention=self.cfg.attention)

    # ------------------------------------------------------------------ training
    def _batch(self, pairs: list[tuple[Tensor, Tensor]]) -> Batch:
        src, src_len = pad_sequences([s for s, _ in pairs])
        tgt, tgt_len = pad_sequences([t for _, t in pairs])
        return Batch(src, src_len, (tgt, tgt_len))

    def train_batch(self, step: int, batch_size: int) -> Batch:
        if self.meta["data"] == "sort":
            pairs = self.sort_pairs(random.Random(self.seed * 1_000_003 + step), batch_size)
            return self._batch([self.encode_pair(s, t) for s, t in pairs])
        idx = epoch_indices(len(self.train_pairs), batch_size, self.seed, step)
        return self._batch([self.train_pairs[i] for i in idx])

    def _loss(self, model: Seq2Seq, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        tgt, tgt_len = batch.y
        logits = model(batch.x, batch.lengths, tgt[:, :-1])                      # (B, T'-1, V)
        gold = tgt[:, 1:]
        mask = torch.arange(gold.shape[1], device=gold.device).unsqueeze(0) < (tgt_len - 1).unsqueeze(1)
        ce = F.cross_entropy(logits.transpose(1, 2), gold, reduction="none")
        return (ce * mask).sum() / mask.sum(), logits, mask

    def loss(self, model: nn.Module, batch: Batch, carry: State) -> tuple[Tensor, State, int]:
        loss, _, _ = self._loss(model, batch)
        return loss, None, len(batch.lengths)

    def max_decode_len(self) -> int:
        return self.cfg.max_decode_len or 2 * self.meta["max_target"] + 2

    def decode(self, model: Seq2Seq, src: Tensor, src_len: Tensor) -> list[list[int]]:
        kw = dict(bos=1, eos=2, max_len=self.max_decode_len())
        if self.cfg.beam > 1:
            return model.beam_search(src, src_len, beam=self.cfg.beam, **kw)
        return model.greedy(src, src_len, **kw)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        model.eval()
        exact, tok_right, tok_total, loss_sum = 0, 0, 0, 0.0
        for a in range(0, len(self.valid_pairs), 256):
            pairs = self.valid_pairs[a:a + 256]
            batch = to_device(self._batch(pairs), device_of(model))
            loss, logits, mask = self._loss(model, batch)
            loss_sum += loss.item() * len(pairs)
            gold = batch.y[0][:, 1:]
            tok_right += ((logits.argmax(-1) == gold) & mask).sum().item()
            tok_total += mask.sum().item()
            for out, (_, t) in zip(self.decode(model, batch.x, batch.lengths), pairs):
                exact += out == t[1:-1].tolist()
        n = len(self.valid_pairs)
        return {"exact_match": exact / n, "token_acc": tok_right / tok_total, "loss": loss_sum / n}

    def predict(self, model: nn.Module, text: str) -> list[str]:
        """Decode one source (characters, or space-separated words / sort symbols)."""
        tokens = text.split() if (self.cfg.tokens == "word" or self.meta["data"] == "sort") else list(text)
        src_vocab = self.src_vocab
        unknown = sorted({t for t in tokens if t not in src_vocab or t in SPECIALS})
        if not tokens or unknown:
            raise UserError(f"expected a source over the training vocabulary; received {text!r}"
                            + (f" with unknown symbols {unknown[:10]}" if unknown else ""))
        src = torch.tensor([src_vocab.encode(tokens)])
        out = self.decode(model.eval(), src, torch.tensor([len(tokens)]))[0]
        sep = " " if (self.cfg.tokens == "word" or self.meta["data"] == "sort") else ""
        return [self.tgt_vocab.decode(out, sep=sep)]
