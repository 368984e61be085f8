"""Vocabularies: symbols <-> ids, with reserved specials, stored as plain lists in config.json."""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from ..errors import UserError

# The reserved symbols. A generator's vocabulary starts with SPECIALS, so its ids are PAD_ID 0, BOS_ID 1, EOS_ID 2
# and UNK_ID 3; a classifier's or tagger's starts with PAD, UNK.
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = [PAD, BOS, EOS, UNK]
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(len(SPECIALS))
NEVER_EMITTED = (PAD_ID, BOS_ID, UNK_ID)           # a generator's outputs: no target holds these


class Vocab:
    """An ordered list of symbols (chars, words or bytes as ints); id = position.

    >>> v = Vocab.build(["abca", "bd"], specials=["<pad>", "<unk>"])
    >>> v.encode("abz", unk="<unk>"), v.decode([2, 3])
    ([2, 3, 1], 'ab')
    """

    def __init__(self, symbols: Sequence):
        self.symbols = list(symbols)
        self.index = {s: i for i, s in enumerate(self.symbols)}
        if len(self.index) != len(self.symbols):
            raise ValueError("a vocabulary lists each symbol once")

    @classmethod
    def build(cls, sequences: Iterable[Iterable], *, specials: Sequence = (), min_count: int = 1) -> "Vocab":
        counts = Counter(s for seq in sequences for s in seq)
        kept = sorted((s for s, c in counts.items() if c >= min_count and s not in specials), key=str)
        return cls(list(specials) + kept)

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol) -> bool:
        return symbol in self.index

    def encode(self, seq: Iterable, *, unk=None) -> list[int]:
        """Ids of ``seq``; symbols outside the vocabulary map to ``unk`` or raise a UserError naming them."""
        if unk is not None:
            u = self.index[unk]
            return [self.index.get(s, u) for s in seq]
        seq = list(seq)
        missing = sorted({repr(s) for s in seq if s not in self.index})
        if missing:
            raise UserError(f"expected symbols from the model's vocabulary of {len(self)}; received "
                            f"{len(missing)} outside it: {', '.join(missing[:10])}")
        return [self.index[s] for s in seq]

    def decode(self, ids: Iterable[int], sep: str = "") -> str:
        return sep.join(str(self.symbols[i]) for i in ids)
