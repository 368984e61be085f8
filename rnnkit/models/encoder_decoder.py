"""The encoder-decoder core that seq2seq and captioning share (Albert's notes' many-to-one-to-many network).

What does not depend on what is encoded is written once here: the decoder's stack of cells built from the
recurrent configuration, the bridge from the encoder's summary to the decoder's initial state
(``s_0 = tanh(W_b summary + b_b)``, cut into the state's leaves), teacher forcing (the decoder reads the true
previous token at every step), and decoding (greedy for a whole batch, beam search one input at a time, through
``rnnkit.decoding``).

A model built on it says how to start and how to step:

- ``start(inputs, sizes) -> (memory (B, S, M), mask (B, S), carry)``: the encoded inputs, which memory cells
  are real (padding is not), and the decoder's first carry;
- ``step(y_prev (B,), carry, memory, mask) -> (logits (B, V), carry, attention (B, S) or None)``;
- ``one(inputs, sizes, b) -> (inputs, sizes)``: example ``b`` alone, without the batch's padding (beam search
  decodes one input at a time).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ..decoding import beam_search, greedy
from ..state import State, leaves, map_state
from .config import RecurrentConfig


class EncoderDecoderCore(nn.Module):
    """The core of the task models that decode tokens from an encoding (see the module docstring); the
    library-level network of cells is ``rnnkit.runners.EncoderDecoder``."""

    head: nn.Linear                    # the decoder's output layer, (V, ·): its device is the model's
    bridge: nn.Linear                  # the encoder's summary -> the decoder's initial state, all leaves joined

    # -- to be written by each model ------------------------------------------------------------------------
    def start(self, inputs: Tensor, sizes: Tensor) -> tuple[Tensor, Tensor, object]:
        raise NotImplementedError

    def step(self, y_prev: Tensor, carry, memory: Tensor, mask: Tensor) -> tuple[Tensor, object, Tensor | None]:
        raise NotImplementedError

    def one(self, inputs: Tensor, sizes: Tensor, b: int) -> tuple[Tensor, Tensor]:
        return inputs[b:b + 1], sizes[b:b + 1]

    # -- shared ---------------------------------------------------------------------------------------------
    @staticmethod
    def decoder_cells(rnn: RecurrentConfig, input_size: int) -> list[nn.Module]:
        """``rnn.num_layers`` cells of the configuration's kind for a decoder stepped by hand (its state comes
        from the bridge, so the state-carrying wrappers stay with the encoder: ``decoder_config``)."""
        cfg = rnn.decoder_config()
        cells = [cfg.make_cell(input_size)]
        for _ in range(rnn.num_layers - 1):
            cells.append(cfg.make_cell(cells[-1].output_size))
        return cells

    @staticmethod
    def state_size(cell: nn.Module) -> int:
        """The width of a cell's state, all its leaves joined: what the bridge must produce."""
        return sum(t.shape[-1] for t in leaves(cell.initial_state(1)))

    def bridged_state(self, decoder: nn.Module, summary: Tensor) -> State:
        """``decoder``'s initial state (B, ...) from the encoder's ``summary`` (B, S_in): ``tanh(bridge(summary))``
        cut into the state's leaves."""
        template = decoder.initial_state(1, device=self.device)
        parts = iter(torch.split(torch.tanh(self.bridge(summary)), [t.shape[-1] for t in leaves(template)], dim=-1))
        return map_state(lambda _: next(parts), template)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def forward(self, inputs: Tensor, sizes: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: logits (B, T', V) for the target inputs ``tgt_in`` (B, T') that start with BOS."""
        memory, mask, carry = self.start(inputs, sizes)
        logits = []
        for y_prev in tgt_in.to(self.device).unbind(1):
            step_logits, carry, _ = self.step(y_prev, carry, memory, mask)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)

    def stepper(self, memory: Tensor, mask: Tensor):
        """``rnnkit.decoding``'s step function over this memory: beam search's K hypotheses share one input's
        memory, expanded (not copied) to K rows."""
        def step(y_prev: Tensor, carry):
            K = y_prev.shape[0]
            mem, msk = (memory, mask) if memory.shape[0] == K else (memory.expand(K, -1, -1), mask.expand(K, -1))
            return self.step(y_prev, carry, mem, msk)
        return step

    _stepper = stepper

    @torch.no_grad()
    def decode(self, inputs: Tensor, sizes: Tensor, *, bos: int, eos: int, max_len: int, beam: int = 1,
               banned: Sequence[int] = ()) -> tuple[list[list[int]], list[list[Tensor]]]:
        """Outputs (EOS excluded) and each output token's attention weights over the memory (empty lists without
        attention): greedy for ``beam=1``, else beam search one input at a time; ``banned`` tokens are never
        emitted."""
        if beam == 1:
            memory, mask, carry = self.start(inputs, sizes)
            return greedy(self.stepper(memory, mask), carry, inputs.shape[0], bos=bos, eos=eos, max_len=max_len,
                          device=self.device, banned=banned)
        outs, maps = [], []
        for b in range(inputs.shape[0]):
            memory, mask, carry = self.start(*self.one(inputs, sizes, b))
            out, att = beam_search(self.stepper(memory, mask), carry, bos=bos, eos=eos, max_len=max_len, beam=beam,
                                   banned=banned)
            outs.append(out)
            maps.append(att)
        return outs, maps

    def greedy(self, inputs: Tensor, sizes: Tensor, *, bos: int, eos: int, max_len: int) -> list[list[int]]:
        """Greedy decoding: the likeliest token at each step, until EOS or ``max_len``."""
        return self.decode(inputs, sizes, bos=bos, eos=eos, max_len=max_len)[0]

    def beam_search(self, inputs: Tensor, sizes: Tensor, *, bos: int, eos: int, max_len: int,
                    beam: int = 4) -> list[list[int]]:
        """Beam search, one input at a time; the best hypothesis by log-probability per token."""
        return self.decode(inputs, sizes, bos=bos, eos=eos, max_len=max_len, beam=beam)[0]
