"""Text from a charlm run, streamed as it is sampled: ``rnnkit generate`` and ``Run.generate``."""
from __future__ import annotations

from typing import Iterator

import torch

from .errors import UserError


def generate_text(task, model, prime: str = "", length: int = 500, *, temperature: float = 1.0, top_k: int = 0,
                  printable: bool = False, seed: int | None = None) -> Iterator[str]:
    """Pieces of the text that follows ``prime`` (``length`` symbols; the prime itself is not repeated), each
    as soon as it decodes: the bytes of a multi-byte character wait for the rest. ``top_k`` 0 samples among all
    symbols; ``printable`` only among printable characters (Albert's notes' filter); ``seed`` None: random.
    The settings are checked here, before the first piece is asked for."""
    if length < 0:
        raise UserError(f"--length must be >= 0; received {length}")
    if not 0 < temperature < float("inf"):
        raise UserError(f"--temperature must be a finite number > 0; received {temperature}")
    if top_k < 0:
        raise UserError(f"--top-k must be >= 0; received {top_k}")
    if seed is not None and not 0 <= seed < 2 ** 63:
        raise UserError(f"--seed must be in [0, 2**63); received {seed}")
    prime_ids = task.encode(prime) if prime else [int(torch.randint(len(task.vocab), (1,)))]
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    allowed = task.printable_mask() if printable else None
    tokens = model.generate(torch.tensor(prime_ids), length, temperature=temperature, top_k=top_k or None,
                            allowed=allowed, generator=generator)
    return _decoded(task, tokens)


def _decoded(task, tokens) -> Iterator[str]:
    pending: list[int] = []
    for token in tokens:
        pending.append(token)
        text = task.decode(pending)
        if "\ufffd" not in text or len(pending) > 4:
            yield text
            pending = []
    yield task.decode(pending)
