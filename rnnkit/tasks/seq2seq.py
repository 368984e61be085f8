"""seq2seq: many-to-one-to-many encoder-decoder (Albert's notes' sorting network; translation in the ML@B slides and the RNN 1 notes).

``--data sort`` (or no ``--data``) generates Albert's notes' problem: a random sequence of symbols in, the
same symbols sorted out. Any other ``--data`` is a TSV file of ``source<TAB>target`` lines, or a folder
holding ``train.tsv`` and (optionally) ``test.tsv`` (``rnnkit data fetch cmudict`` makes one: spelling ->
phonemes). Sources are read as characters or words (``--tokens``), targets likewise
(``--target-tokens``; by default words when the targets hold spaces). A source may have several
targets (a word's pronunciations): validation is a seeded share of the training file's *sources*, so
all of one source's targets fall on one side, and an output is right when it equals any of them.
Training uses teacher forcing over batches grouped by length; validation decodes greedily (``--valid-beam``)
and reports exact-match accuracy, the token and sequence error rates (phoneme and word error rates for G2P),
token accuracy under teacher forcing and loss. A folder's ``test.tsv`` is scored once at the end with
the weights validation selected, decoded by length-normalised beam search (``--beam``, also ``rnnkit eval``'s
and ``predict``'s decoder); ``attention.png`` shows where the decoder looked for a few
validation sources.
"""
from __future__ import annotations

import math
import random
from pathlib import Path
from functools import cached_property
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data.padding import pad_sequences
from ..data.text import check_file, read_pairs
from ..data.vocab import BOS_ID, EOS_ID, NEVER_EMITTED, SPECIALS, UNK, Vocab
from ..errors import UserError
from ..models import RecurrentConfig, Seq2Seq
from ..options import option
from ..state import State
from ..runtime.batches import to_device
from ..tools.figures import attention_figure
from .base import device_of, Batch, Task, padded_cost, split_off
from .scoring import error_rates, teacher_forced, teacher_forced_scores



def _group(pairs: list[tuple[Tensor, Tensor]]) -> list[tuple[Tensor, list[list[int]]]]:
    """Distinct sources, in first-seen order, each with the token lists of all its targets (BOS/EOS cut)."""
    groups: dict[tuple, tuple[Tensor, list[list[int]]]] = {}
    for s, t in pairs:
        groups.setdefault(tuple(s.tolist()), (s, []))[1].append(t[1:-1].tolist())
    return list(groups.values())



@dataclass
class Seq2SeqConfig:
    attention: str = option("none, additive (Bahdanau) or dot (Luong)", "additive", choices=("none", "additive", "dot"))
    decoder_input: str = option("what the decoder reads at each step: the previous target token (the true one in "
                                "training, its own when decoding) or zeros (Albert's notes' sorter: the encoder's "
                                "state, bridged, is all the decoder knows)", "previous", choices=("previous", "zeros"))
    beam: int = option("beam width for the test file, rnnkit eval and predict (length-normalised; 1: greedy)", 5,
                       at_least=1, at_most=1000)
    valid_beam: int = option("beam width for the validations during training (1: greedy, batched)", 1,
                             at_least=1, at_most=1000)
    tokens: str = option("sources (and targets, unless --target-tokens says otherwise) as char or word tokens",
                         "char", choices=("char", "word"))
    target_tokens: str = option("targets as char or word tokens; auto: words when --tokens is word or the targets "
                                "hold spaces", "auto", choices=("auto", "char", "word"))
    sort_symbols: int = option("sort data: size of the alphabet (digits 0..N-1)", 10, at_least=2, at_most=1000)
    sort_min_len: int = option("sort data: shortest sequence", 2, at_least=1)
    sort_max_len: int = option("sort data: longest sequence", 8, at_least=1, at_most=100_000)
    valid_size: int = option("sort data: held-out sequences", 500, at_least=1, at_most=10_000_000)
    valid_fraction: float = option("TSV data: share of the training sources held out for validation", 0.1,
                                   above=0.0, below=1.0)
    embed_size: int = option("token embedding size", 32, at_least=1, at_most=65536)
    max_decode_len: int = option("longest output to decode (0: twice the longest training target + 2)", 0, at_least=0, at_most=100_000)


SEQ2SEQ_EPOCHS = 15              # passes over the training pairs, as g2p-en was trained (Park & Kim 2019)
SEQ2SEQ_STEP_BUDGET = 30_000_000  # padded source + target token steps a run may cost: ~45 min of the recipe on one core


class Seq2SeqTask(Task):
    in_memory = "pairs"
    name = "seq2seq"
    predicts = True
    attention_maps = True
    Config = Seq2SeqConfig
    primary = "exact_match"
    higher_is_better = True
    needs_data = False
    model_defaults = {"hidden_size": 128}
    train_defaults = {"steps": 3000, "batch_size": 64, "lr": 3e-3, "eval_every": 500}

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
            task.set_valid(task.sort_pairs(random.Random(-1 - seed), cfg.valid_size))
            return task
        train_file, test_file = cls._files(data)
        lines = cls._read_lines(train_file)
        target_tokens = cfg.target_tokens
        if target_tokens == "auto":
            target_tokens = "word" if cfg.tokens == "word" or any(" " in t.strip() for _, t in lines) else "char"
        meta = {"data": str(data), "train": str(train_file), "test": str(test_file) if test_file else None,
                "target_tokens": target_tokens}
        pairs = cls._tokenize(lines, cfg.tokens, target_tokens)
        meta.update(src_vocab=Vocab.build([s for s, _ in pairs], specials=SPECIALS).symbols,
                    tgt_vocab=Vocab.build([t for _, t in pairs], specials=SPECIALS).symbols,
                    max_target=max(len(t) for _, t in pairs))
        task = cls(cfg, model_cfg, meta, seed=seed)
        train, valid = task._split_by_source(pairs)
        task.train_pairs = [task.encode_pair(*p) for p in train]
        task.set_valid(valid)
        return task

    @staticmethod
    def _files(data) -> tuple[Path, Path | None]:
        """(training file, test file or None) of a TSV file or of a folder with train.tsv [and test.tsv]."""
        path = Path(data).expanduser()
        if path.is_dir():
            train = check_file(path / "train.tsv", "a folder holding train.tsv (and test.tsv) of source<TAB>target lines")
            return train, (path / "test.tsv") if (path / "test.tsv").is_file() else None
        return check_file(path, "a TSV file of source<TAB>target lines, or a folder holding train.tsv"), None

    @staticmethod
    def _read_lines(path: Path, at_least: int = 2) -> list[tuple[str, str]]:
        return read_pairs(path, "source", "target", at_least=at_least)

    @staticmethod
    def _tokenize(lines: list[tuple[str, str]], src_tokens: str, tgt_tokens: str) -> list[tuple[list[str], list[str]]]:
        split = {"word": str.split, "char": list}
        return [(split[src_tokens](s), split[tgt_tokens](t)) for s, t in lines]

    def _pairs_of(self, path) -> list[tuple[list[str], list[str]]]:
        return self._tokenize(self._read_lines(Path(path), at_least=1), self.cfg.tokens,
                              self.meta.get("target_tokens", self.cfg.tokens))

    def _split_by_source(self, pairs):
        """(train, valid) pairs: a seeded share of the distinct sources, with all their targets, is held out."""
        sources = sorted({tuple(s) for s, _ in pairs})
        _, va = split_off(len(sources), self.cfg.valid_fraction, self.seed)
        held = {sources[i] for i in va.tolist()}
        return [p for p in pairs if tuple(p[0]) not in held], [p for p in pairs if tuple(p[0]) in held]

    def set_valid(self, pairs) -> None:
        """Validation pairs (teacher-forced loss) and their sources with every reference (decoding)."""
        self.valid_pairs = [self.encode_pair(s, t) for s, t in pairs]
        self.valid_groups = _group(self.valid_pairs)

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
        return torch.tensor(s or [0]), torch.tensor([BOS_ID] + t + [EOS_ID])

    def load_eval_data(self, data) -> None:
        self.decoding_beam = self.cfg.beam                # rnnkit eval decodes as the test file was
        if self.meta["data"] == "sort" and not data:
            self.set_valid(self.sort_pairs(random.Random(-1 - self.seed), self.cfg.valid_size))
        elif data:                                # a folder: its test.tsv (else train.tsv); a file: itself
            test = Path(data).expanduser() / "test.tsv"
            self.set_valid(self._pairs_of(test if test.is_file() else self._files(data)[0]))
        else:
            self.set_valid(self._split_by_source(self._pairs_of(self.meta.get("train") or self.meta["data"]))[1])

    def build_model(self) -> Seq2Seq:
        return Seq2Seq(self.model_cfg, len(self.meta["src_vocab"]), len(self.meta["tgt_vocab"]),
                       embed_size=self.cfg.embed_size, attention=self.cfg.attention, decoder_input=self.cfg.decoder_input)

    # ------------------------------------------------------------------ training
    def data_defaults(self, batch_size: int | None = None) -> dict:
        """The recipe for pairs read from a file (generated sorting keeps ``train_defaults``): a bidirectional
        LSTM encoder of 256 with additive attention, Adam at 2e-3 in batches of 128 with a cosine decay over
        ``SEQ2SEQ_EPOCHS`` passes, but at most ``SEQ2SEQ_STEP_BUDGET`` padded token steps (an update costs its
        batch's padded source + target steps, grouped by length); about 15 validations a run.

        >>> task = Seq2SeqTask(Seq2SeqConfig(), RecurrentConfig(), {"data": "pairs.tsv"})
        >>> task.train_pairs = [(torch.zeros(7), torch.zeros(9))] * 1280
        >>> task.data_defaults()["steps"]                 # 15 passes of 10 batches
        150
        >>> task.train_pairs = task.train_pairs * 100      # 3e7 / (128 * 16) padded steps an update
        >>> task.data_defaults()["steps"]
        14648
        """
        if self.meta["data"] == "sort":
            return {}
        n = len(self.train_pairs)
        batch = batch_size or min(128, n)
        cost = padded_cost(self._lengths(), batch, self.seed)
        steps = max(1, min(SEQ2SEQ_EPOCHS * math.ceil(n / batch), int(SEQ2SEQ_STEP_BUDGET / cost)))
        return {"hidden_size": 256, "bidirectional": True, "steps": steps, "batch_size": batch, "lr": 2e-3,
                "schedule": "cosine", "eval_every": max(1, steps // 15)}

    def _lengths(self) -> list[int]:
        return [len(s) + len(t) for s, t in self.train_pairs]

    def _batch(self, pairs: list[tuple[Tensor, Tensor]]) -> Batch:
        src, src_len = pad_sequences([s for s, _ in pairs])
        tgt, tgt_len = pad_sequences([t for _, t in pairs])
        return Batch(src, src_len, (tgt, tgt_len))

    def train_batch(self, step: int, batch_size: int) -> Batch:
        if self.meta["data"] == "sort":
            pairs = self.sort_pairs(random.Random(self.seed * 1_000_003 + step), batch_size)
            return self._batch([self.encode_pair(s, t) for s, t in pairs])
        rows = self.bucketed_rows(step, batch_size, len(self.train_pairs), self._lengths)   # grouped by length
        return self._batch([self.train_pairs[r] for r in rows.tolist()])

    def loss(self, model: nn.Module, batch: Batch, carry: State) -> tuple[Tensor, State, int]:
        return teacher_forced(model, batch)[0], None, len(batch.lengths)

    def max_decode_len(self) -> int:
        return self.cfg.max_decode_len or 2 * self.meta["max_target"] + 2

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return self._score(model, self.valid_pairs, self.valid_groups, getattr(self, "decoding_beam", self.cfg.valid_beam))

    def _score(self, model: nn.Module, pairs, groups, beam: int) -> dict[str, float]:
        """Teacher-forced loss and token accuracy over ``pairs``; decoded error rates over ``groups``."""
        model.eval()
        forced = teacher_forced_scores(model, (to_device(self._batch(pairs[a:a + 256]), device_of(model))
                                               for a in range(0, len(pairs), 256)))
        outputs = [out for a in range(0, len(groups), 256)
                   for out in self._decode_sources([s for s, _ in groups[a:a + 256]], model, beam)[0]]
        rates = error_rates(outputs, [refs for _, refs in groups])
        return {"exact_match": 1 - rates["sequence_error_rate"], **rates, **forced}

    def _decode_sources(self, sources: list[Tensor], model: Seq2Seq, beam: int | None = None):
        src, src_len = pad_sequences(sources)
        return model.decode(src, src_len, bos=BOS_ID, eos=EOS_ID, banned=NEVER_EMITTED, max_len=self.max_decode_len(),
                            beam=beam or self.cfg.beam)

    def test_metrics(self, model: nn.Module) -> tuple[str, dict[str, float]] | None:
        """A data folder's test.tsv scored with ``model`` (the weights validation selected), or None."""
        if not self.meta.get("test"):
            return None
        pairs = [self.encode_pair(s, t) for s, t in self._pairs_of(self.meta["test"])]
        return self.meta["test"], self._score(model, pairs, _group(pairs), self.cfg.beam)

    def figures(self, run_dir: Path, model: nn.Module, count: int = 6) -> list[Path]:
        """``attention.png``: the attention weights of the decoder over a few validation sources."""
        if getattr(model, "attention", None) is None:
            return []
        if not hasattr(self, "valid_groups"):
            self.load_eval_data(None)
        sources = [s for s, _ in self.valid_groups[:count]]
        outputs, maps = self._decode_sources(sources, model.eval())
        panels = [([self.src_vocab.symbols[i] for i in s.tolist()], [self.tgt_vocab.symbols[i] for i in o],
                   torch.stack(m)[:, :len(s)] if m else torch.zeros(0, len(s))) for s, o, m in zip(sources, outputs, maps)]
        return [attention_figure(panels, run_dir / "attention.png")]

    def predict(self, model: nn.Module, text: str, *, attention_map: str | None = None) -> list[str]:
        """Decode one source (characters, or space-separated words / sort symbols); with ``attention_map``,
        a PNG of the attention of each output token over the source."""
        sort = self.meta["data"] == "sort"
        tokens = text.split() if (self.cfg.tokens == "word" or sort) else list(text)
        src_vocab = self.src_vocab
        unknown = sorted({t for t in tokens if t not in src_vocab or t in SPECIALS})
        if not tokens or unknown:
            raise UserError(f"expected a source over the training vocabulary; received {text!r}"
                            + (f" with unknown symbols {unknown[:10]}" if unknown else ""))
        if attention_map and getattr(model, "attention", None) is None:
            raise UserError("expected a run with attention for --attention-map; this run has --attention none")
        outs, maps = self._decode_sources([torch.tensor(src_vocab.encode(tokens))], model.eval())
        out = outs[0]
        if attention_map:
            weights = torch.stack(maps[0]) if maps[0] else torch.zeros(0, len(tokens))
            attention_figure([(tokens, [self.tgt_vocab.symbols[i] for i in out], weights)], Path(attention_map))
        sep = " " if (sort or self.meta.get("target_tokens", self.cfg.tokens) == "word") else ""
        return [self.tgt_vocab.decode(out, sep=sep)]
