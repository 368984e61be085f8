"""tag: one tag per word, e.g. part-of-speech tagging (Albert's notes' many-to-many map f : A* -> B*).

Data: a CoNLL-U treebank file (the UPOS or XPOS column, ``--tag-column``) or ``word<TAB>tag`` lines
with a blank line between sentences (``rnnkit.data.conllu``). ``--data`` may also be a treebank folder
holding ``...-train.conllu`` and, optionally, ``...-dev.conllu`` and ``...-test.conllu`` (UD's naming).
The weights are chosen on the dev file, or ``--valid``, or else a seeded share of the training
sentences; a test file is scored once, at the end, with the chosen weights.

The model reads the words both ways (a bidirectional LSTM by default: a word's tag depends on the
words after it as well as before) and a linear layer maps each step's output to the tags:

    e_t = [E[w_t] ; P_1[w_t[:1]] ; ... ; S_N[w_t[-N:]]]   (D + 2N D_a: the word, its prefixes and suffixes)
    y_t = [h_t^fwd ; h_t^bwd]  (2H),   logits_t = W y_t + b  (C tags)

trained on the mean cross-entropy of every word's tag. Padding never counts: its targets are
``PAD_TAG``, which the loss ignores and the accuracy leaves out, and the runner's masking model keeps a
sentence's outputs independent of the padding after it. Words seen fewer than ``--min-count`` times
in training share the ``<unk>`` embedding, which is how the model learns to tag words it never saw;
their prefixes and suffixes (``--affixes N``, 3 by default; 0: the word alone) still tell them apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.conllu import Sentence, read_tagged, split_files
from ..data.padding import pad_sequences
from ..data.vocab import PAD, UNK, Vocab
from ..errors import UserError
from ..models import RecurrentConfig, SequenceModel
from ..options import option
from ..state import State
from .base import Batch, Task, data_path, device_of, equal_length, padded_cost, split_off

PAD_TAG = -100          # the target at padding: F.cross_entropy's ignore_index, and left out of every score
UNSEEN_TAG = -1         # a gold tag training never saw: no loss (no logit for it), always a wrong prediction

TAG_EPOCHS = 10               # passes over the training sentences
TAG_STEP_BUDGET = 4_000_000   # padded token steps a run may cost: about 8 minutes of the default model on one core
                              # (0.11 ms a padded token step, forward and backward, batches of 32; measured)
STEP_OVERHEAD = 200           # what one update costs beyond its token steps, in token steps (measured: ~25 ms)


@dataclass
class TagConfig:
    valid: str = option("validation data in the same format (default: the dev file of a treebank folder, else "
                        "--valid-fraction of the training sentences)", "")
    valid_fraction: float = option("share of the training sentences held out to choose the weights when there is "
                                   "no dev file and no --valid", 0.1, above=0.0, below=1.0)
    tag_column: str = option("CoNLL-U: tag with the UPOS column (the universal tags) or the XPOS column (the "
                             "treebank's own tagset)", "upos", choices=("upos", "xpos"))
    lowercase: bool = option("lowercase every word first", False)
    min_count: int = option("words (and affixes) seen fewer times in training become <unk>", 2, at_least=1)
    embed_size: int = option("word embedding size (D)", 128, at_least=1, at_most=65536)
    affixes: int = option("join each word's embedding with embeddings of its first and last 1..N characters "
                          "(prefixes and suffixes), so that a word never seen in training is tagged by its form; "
                          "0: the word alone", 3, at_least=0, at_most=16)
    affix_size: int = option("embedding size of each prefix and suffix (D_a)", 32, at_least=1, at_most=65536)


def tag_loss(logits: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy of each word's tag: ``logits`` (B, T, C), ``y`` (B, T) tag ids with ``PAD_TAG`` at padding
    (and ``UNSEEN_TAG`` for a gold tag training never saw); both are left out, so ``mean`` is over real words.

    >>> logits = torch.zeros(1, 3, 4)
    >>> round(tag_loss(logits, torch.tensor([[1, 2, PAD_TAG]])).item(), 4) == round(math.log(4), 4)
    True
    """
    target = torch.where(y >= 0, y, PAD_TAG)
    return F.cross_entropy(logits.transpose(1, 2), target, ignore_index=PAD_TAG, reduction=reduction)


def confusion_matrix(gold: Tensor, pred: Tensor, n: int) -> Tensor:
    """(n, n) counts, rows gold and columns predicted, of the words whose gold tag is one of the n (an unseen
    gold tag, < 0, has no row).

    >>> confusion_matrix(torch.tensor([0, 1, 1, -1]), torch.tensor([0, 1, 0, 1]), 2).tolist()
    [[1, 0], [1, 1]]
    """
    seen = gold >= 0
    counts = torch.zeros(n * n, dtype=torch.long)
    counts.index_add_(0, gold[seen] * n + pred[seen], torch.ones_like(gold[seen]))
    return counts.view(n, n)


def per_tag_f1(confusion: Tensor, extra_predicted: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """(precision, recall, F1) of each tag from a confusion matrix; ``extra_predicted`` (n,) adds predictions
    made for words whose gold tag has no row (unseen in training), which lower precision only."""
    tp = confusion.diag().double()
    predicted = confusion.sum(0).double() + (0 if extra_predicted is None else extra_predicted.double())
    precision, recall = tp / predicted.clamp(min=1), tp / confusion.sum(1).double().clamp(min=1)
    f1 = torch.where(tp > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), torch.zeros_like(tp))
    return precision, recall, f1


def affixes(word: str, n: int) -> list[str]:
    """A word's prefixes of 1..n characters, then its suffixes of 1..n (a short word's longer ones are the word).

    >>> affixes("tagged", 2)
    ['t', 'ta', 'd', 'ed']
    """
    return [word[:k] for k in range(1, n + 1)] + [word[-k:] for k in range(1, n + 1)]


class AffixTagger(SequenceModel):
    """A tagger whose step input is the word's embedding joined with the embeddings of its affixes, in the way
    feature-based taggers read prefixes and suffixes (Ratnaparkhi 1996, Toutanova et al. 2003):

        x (B, T, 1 + K) ids: the word, then K affixes, each in its own vocabulary
        e_t = [E[w_t] ; A_1[a_1t] ; ... ; A_K[a_Kt]]  (D + K D_a)  -> runner -> logits (B, T, C)

    A word outside the vocabulary (<unk>) keeps its affixes, which carry most of what its tag depends on
    (``-ing``, ``-ly``, a plural ending). Embedding dropout drops whole words, never their affixes.

    >>> m = AffixTagger(RecurrentConfig(hidden_size=8), vocab_size=5, affix_vocab_sizes=[3, 4], output_size=2,
    ...                 embed_size=6, affix_size=4)
    >>> tuple(m(torch.zeros(2, 7, 3, dtype=torch.long), torch.tensor([7, 3]))[0].shape)
    (2, 7, 2)
    """

    export_refusal = "reads several ids a step (the word and its affixes); train with --affixes 0 to export it"

    def __init__(self, rnn: RecurrentConfig, *, vocab_size: int, affix_vocab_sizes: list[int], output_size: int,
                 embed_size: int = 64, affix_size: int = 32):
        super().__init__(rnn, input_size=embed_size + len(affix_vocab_sizes) * affix_size, output_size=output_size,
                         readout="all")
        self.embedding = nn.Embedding(vocab_size, embed_size)          # read by SequenceModel.features
        self.affixes = nn.ModuleList(nn.Embedding(n, affix_size) for n in affix_vocab_sizes)

    def features(self, x: Tensor) -> Tensor:
        words = super().features(x[..., 0])                                       # (B, T, D), embedding dropout
        return torch.cat([words, *(emb(x[..., k + 1]) for k, emb in enumerate(self.affixes))], dim=-1)


class Tag(Task):
    name = "tag"
    gradient_curves = True
    predicts = True
    Config = TagConfig
    primary = "accuracy"
    higher_is_better = True
    unit = "word"
    model_defaults = {"hidden_size": 128, "bidirectional": True}
    train_defaults = {"steps": 1000, "batch_size": 32, "lr": 2e-3, "eval_every": 100}
    train_x: list[Tensor] | tuple = ()        # set by ``prepare``; a run opened for evaluation has none
    confusion: Tensor | None = None           # of the last scoring: rows gold, columns predicted

    # ------------------------------------------------------------------ data
    @classmethod
    def prepare(cls, cfg: TagConfig, model_cfg: RecurrentConfig, data, *, seed: int = 0) -> "Tag":
        path = given = data_path(data, cls.name)
        valid, test = cfg.valid or None, None
        if path.is_dir():                                  # a treebank folder: train, dev and test files
            files = split_files(path)
            path, test = files["train"], files["test"] and str(files["test"])
            valid = valid or (files["valid"] and str(files["valid"]))
        sentences = read_tagged(path, tag_column=cfg.tag_column)
        if not valid and len(sentences) < 2:
            raise UserError(f"expected at least two sentences in {path} to hold some out for validation, or "
                            f"--valid; received {len(sentences)}")
        words = [cls._words(ws, cfg) for ws, _ in sentences]
        columns = list(zip(*(affixes(w, cfg.affixes) for ws in words for w in ws)))    # 2N columns of affixes
        meta = {"vocab": Vocab.build(words, specials=[PAD, UNK], min_count=cfg.min_count).symbols,
                "affix_vocabs": [Vocab.build([c], specials=[PAD, UNK], min_count=cfg.min_count).symbols
                                 for c in columns],
                "labels": sorted({t for _, ts in sentences for t in ts}), "data": str(given), "train": str(path),
                "valid": valid, "test": test, "held_out": 0.0 if valid else cfg.valid_fraction}
        task = cls(cfg, model_cfg, meta, seed=seed)
        x, y = task.encode(sentences)
        if valid:
            task.train_x, task.train_y = x, y
            task.load_eval_data(valid)
        else:
            tr, va = split_off(len(x), meta["held_out"], seed)
            task.train_x, task.train_y = [x[i] for i in tr], [y[i] for i in tr]
            task.valid_x, task.valid_y = [x[i] for i in va], [y[i] for i in va]
        return task

    @staticmethod
    def _words(words: list[str], cfg: TagConfig) -> list[str]:
        return [w.lower() for w in words] if cfg.lowercase else words

    @cached_property
    def vocab(self) -> Vocab:
        return Vocab(self.meta["vocab"])

    @cached_property
    def affix_vocabs(self) -> list[Vocab]:
        return [Vocab(symbols) for symbols in self.meta["affix_vocabs"]]

    @cached_property
    def tag_ids(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.meta["labels"])}

    def encode(self, sentences: list[Sentence]) -> tuple[list[Tensor], list[Tensor]]:
        """Each sentence's inputs and tag ids (T,): word ids (T,), or with ``--affixes`` the word's and its affixes'
        ids (T, 1 + 2N); unknown words and affixes are <unk>, tags training never saw ``UNSEEN_TAG``."""
        xs = []
        for ws, _ in sentences:
            ws = self._words(ws, self.cfg)
            x = torch.tensor(self.vocab.encode(ws, unk=UNK))
            if self.affix_vocabs:
                cols = zip(*(affixes(w, self.cfg.affixes) for w in ws))
                x = torch.stack([x, *(torch.tensor(v.encode(c, unk=UNK)) for v, c in zip(self.affix_vocabs, cols))], 1)
            xs.append(x)
        ys = [torch.tensor([self.tag_ids.get(t, UNSEEN_TAG) for t in ts]) for _, ts in sentences]
        return xs, ys

    def load_eval_data(self, data) -> None:
        """A tagged file to score, or (None) the run's own validation data: its --valid or dev file, or its seeded
        share of the training file."""
        path = data_path(data or self.meta.get("valid") or self.meta["train"], self.name)
        self.valid_x, self.valid_y = self.encode(read_tagged(path, tag_column=self.cfg.tag_column))
        if not data and not self.meta.get("valid"):
            _, va = split_off(len(self.valid_x), self.meta["held_out"], self.seed)
            self.valid_x, self.valid_y = [self.valid_x[i] for i in va], [self.valid_y[i] for i in va]

    def build_model(self) -> SequenceModel:
        n = len(self.meta["labels"])
        if self.affix_vocabs:
            return AffixTagger(self.model_cfg, vocab_size=len(self.vocab), output_size=n,
                               embed_size=self.cfg.embed_size, affix_vocab_sizes=[len(v) for v in self.affix_vocabs],
                               affix_size=self.cfg.affix_size)
        return SequenceModel(self.model_cfg, vocab_size=len(self.vocab), embed_size=self.cfg.embed_size,
                             output_size=n, readout="all")

    # ------------------------------------------------------------------ training
    def data_defaults(self, batch_size: int | None = None) -> dict:
        """The recipe: a bidirectional LSTM (``model_defaults``) with dropout 0.5 before the head and embedding
        dropout 0.1, Adam at 2e-3 in batches of 32 sentences with a cosine decay over ``TAG_EPOCHS`` passes, but at
        most ``TAG_STEP_BUDGET`` padded token steps (an update costs its batch's padded words, grouped by length,
        plus ``STEP_OVERHEAD``); about 10 validations a run.

        >>> task = Tag(TagConfig(), RecurrentConfig(), {})
        >>> task.train_x = [torch.zeros(20)] * 320
        >>> task.data_defaults()["steps"]                  # 10 passes of 10 batches
        100
        >>> task.train_x = [torch.zeros(20)] * 32_000      # 4e6 / (32 * 20 + 200) padded steps an update
        >>> task.data_defaults()["steps"]
        4761
        """
        n = len(self.train_x)
        batch = batch_size or min(32, n)
        cost = padded_cost([len(x) for x in self.train_x], batch, self.seed) + STEP_OVERHEAD
        steps = max(1, min(TAG_EPOCHS * math.ceil(n / batch), int(TAG_STEP_BUDGET / cost)))
        return {"dropout": 0.5, "embed_dropout": 0.1, "steps": steps, "batch_size": batch, "lr": 2e-3,
                "schedule": "cosine", "eval_every": max(1, steps // 10)}

    def diagnose_inputs(self, n: int) -> Tensor:
        return equal_length(self.valid_x, n)

    def train_batch(self, step: int, batch_size: int) -> Batch:
        """Batch ``step`` of seeded epochs grouped by length (``bucketed_batches``): words (B, T), lengths (B,),
        tags (B, T) with ``PAD_TAG`` at padding."""
        rows = self.bucketed_rows(step, batch_size, len(self.train_x), lambda: [len(x) for x in self.train_x]).tolist()
        x, lengths = pad_sequences([self.train_x[r] for r in rows])
        y, _ = pad_sequences([self.train_y[r] for r in rows], padding_value=PAD_TAG)
        return Batch(x, lengths, y)

    def loss(self, model: nn.Module, batch: Batch, carry: State) -> tuple[Tensor, State, int]:
        logits, _ = model(batch.x, batch.lengths)                                   # (B, T, C)
        return tag_loss(logits, batch.y), None, int(batch.lengths.sum())

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def tag(self, model: nn.Module, xs: list[Tensor], chunk: int = 256) -> list[Tensor]:
        """Each sentence's logits (T_b, C), batched ``chunk`` sentences of similar lengths at a time."""
        model.eval()
        order = sorted(range(len(xs)), key=lambda i: len(xs[i]))         # chunks of similar lengths pad little
        out: list[Tensor] = [torch.empty(0)] * len(xs)
        for a in range(0, len(xs), chunk):
            rows = order[a:a + chunk]
            x, lengths = pad_sequences([xs[i] for i in rows])
            logits = model(x.to(device_of(model)), lengths)[0].float().cpu()           # (B, T, C)
            for b, i in enumerate(rows):
                out[i] = logits[b, : len(xs[i])]
        return out

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return self._scores(model, self.valid_x, self.valid_y)

    def test_metrics(self, model: nn.Module) -> tuple[str, dict[str, float]] | None:
        """The test file of a treebank folder scored with ``model`` (the selected weights), or None."""
        if not self.meta.get("test"):
            return None
        xs, ys = self.encode(read_tagged(self.meta["test"], tag_column=self.cfg.tag_column))
        return self.meta["test"], self._scores(model, xs, ys)

    def _scores(self, model: nn.Module, xs: list[Tensor], ys: list[Tensor]) -> dict[str, float]:
        """Per-word accuracy (every word of every sentence, padding never), the macro-F1 over the tags that occur
        (in the gold tags or the predictions), the accuracy on words outside the vocabulary (<unk>; NaN when there
        are none), and the mean loss per word."""
        if not xs:
            raise UserError("expected at least one validation sentence; received none")
        logits = torch.cat(self.tag(model, xs))                                      # (N, C): every word
        gold, words = torch.cat(ys), torch.cat(xs)
        words = words[:, 0] if words.dim() == 2 else words                           # the word, not its affixes
        pred = logits.argmax(-1)
        right = pred == gold
        unk = words == self.vocab.index[UNK]
        n = len(self.meta["labels"])
        self.confusion = confusion_matrix(gold, pred, n)
        unseen_pred = torch.bincount(pred[gold < 0], minlength=n)
        _, _, f1 = per_tag_f1(self.confusion, unseen_pred)
        occurs = (self.confusion.sum(0) + self.confusion.sum(1) + unseen_pred) > 0
        seen = gold >= 0
        loss = tag_loss(logits[seen].unsqueeze(0), gold[seen].unsqueeze(0)).item() if seen.any() else float("nan")
        return {"accuracy": right.double().mean().item(), "macro_f1": f1[occurs].mean().item(),
                "unk_accuracy": right[unk].double().mean().item() if unk.any() else float("nan"), "loss": loss}

    def report(self, metrics: dict) -> list[str]:
        """Precision, recall, F1 and support of each tag in the last scoring."""
        if self.confusion is None:
            return []
        precision, recall, f1 = per_tag_f1(self.confusion)
        support = self.confusion.sum(1).tolist()
        width = max(6, *(len(t) for t in self.meta["labels"]))
        lines = [f"{'tag':<{width}} precision  recall      f1  support"]
        for k, tag in enumerate(self.meta["labels"]):
            lines.append(f"{tag:<{width}} {precision[k]:9.4f} {recall[k]:7.4f} {f1[k]:7.4f} {support[k]:8d}")
        return lines

    def predict(self, model: nn.Module, text: str) -> list[str]:
        """``word<TAB>tag`` for each word of ``text`` (words separated by spaces, as the training data splits them),
        or of each line of a text file (one sentence a line, a blank line after each sentence's words): the
        two-column format the task reads."""
        lines = Path(text).read_text(encoding="utf-8").splitlines() if Path(text).is_file() else [text]
        sentences = [line.split() for line in lines if line.strip()]
        if not sentences:
            raise UserError(f"expected words to tag (a text, or a file of one sentence a line); received {text!r}")
        xs, _ = self.encode([(ws, []) for ws in sentences])
        labels, out = self.meta["labels"], []
        for ws, logits in zip(sentences, self.tag(model, xs)):
            if out:
                out.append("")                                    # a blank line between sentences
            out += [f"{w}\t{labels[int(k)]}" for w, k in zip(ws, logits.argmax(-1))]
        return out
