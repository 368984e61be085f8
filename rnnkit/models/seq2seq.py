"""Albert's notes' many-to-one-to-many network with attention (translation in the ML@B slides)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..cells import Stack
from ..state import State, leaves
from .attention import Attention
from .config import RecurrentConfig, build_runner
from .encoder_decoder import EncoderDecoderCore


class Seq2Seq(EncoderDecoderCore):
    """Albert's notes' many-to-one-to-many network with attention: encoder, bridge, attentional decoder.

    The encoder (a runner, bidirectional or not) reads the source; a linear ``bridge`` maps its last
    layer's final state to the decoder's initial state. The decoder is a ``Stack`` of cells reading
    ``[E[y_{t-1}]; c_{t-1}]`` (input feeding; zeros in place of ``E[y_{t-1}]`` with ``decoder_input="zeros"``); with attention, ``c_t`` attends over the encoder
    outputs and the output is ``tanh(W_c [h_t; c_t])`` (Luong); without, ``c_t`` is empty.
    """

    def __init__(self, rnn: RecurrentConfig, src_vocab: int, tgt_vocab: int, *, embed_size: int = 64,
                 attention: str = "additive", decoder_input: str = "previous"):
        super().__init__()
        if attention not in ("none", "additive", "dot"):
            raise ValueError(f"attention must be none, additive or dot; received {attention!r}")
        if decoder_input not in ("previous", "zeros"):
            raise ValueError(f"decoder_input must be previous or zeros; received {decoder_input!r}")
        # Albert's notes' sorter feeds its decoder zeros at every step: all it knows of the source is the bridged
        # state (and the attention context, where there is one), never its own or the true previous output
        self.decoder_input = decoder_input
        self.src_embedding = nn.Embedding(src_vocab, embed_size)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embed_size)
        self.encoder = build_runner(rnn, embed_size)
        H, M = rnn.hidden_size, self.encoder.output_size
        self.context_size = M if attention != "none" else 0
        self.decoder = Stack(self.decoder_cells(rnn, embed_size + self.context_size))
        H = self.decoder.output_size                                        # 2H for a complex (eunn) state
        self.bridge = nn.Linear(self.state_size(self.encoder.layers[-1]), self.state_size(self.decoder))
        self.attention = Attention(attention, H, M) if attention != "none" else None
        self.combine = nn.Linear(H + M, H) if attention != "none" else None
        self.head = nn.Linear(H, tgt_vocab)
        self.dropout = nn.Dropout(rnn.dropout)

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor, State]:
        """Memory (B, S, M), its mask (B, S), and the decoder's initial state (on the model's device)."""
        src = src.to(self.device)
        memory, states = self.encoder(self.src_embedding(src), src_lengths)
        state = self.bridged_state(self.decoder, torch.cat(leaves(states[-1]), dim=-1))  # from (B, sum of leaf sizes)
        mask = torch.arange(src.shape[1], device=src.device).unsqueeze(0) < src_lengths.to(src.device).unsqueeze(1)
        return memory, mask, state

    def decode_step(self, y_prev: Tensor, context: Tensor, state: State, memory: Tensor, mask: Tensor):
        """One decoder step: logits (B, V), the new context, the new state, the attention weights (B, S) or None."""
        e = self.tgt_embedding(y_prev)                                      # (B, E)
        if self.decoder_input == "zeros":
            e = torch.zeros_like(e)
        h, state = self.decoder(torch.cat([e, context], dim=-1), state)
        alpha = None
        if self.attention is not None:
            context, alpha = self.attention(h, memory, mask)
            h = torch.tanh(self.combine(torch.cat([h, context], dim=-1)))
        return self.head(self.dropout(h)), context, state, alpha

    # -- the encoder-decoder core's hooks: the carry is (context, state) ---------------------------------------
    def start(self, src: Tensor, src_lengths: Tensor):
        memory, mask, state = self.encode(src, src_lengths)
        return memory, mask, (memory.new_zeros(src.shape[0], self.context_size), state)

    def step(self, y_prev: Tensor, carry, memory: Tensor, mask: Tensor):
        logits, context, state, alpha = self.decode_step(y_prev, carry[0], carry[1], memory, mask)
        return logits, (context, state), alpha

    def one(self, src: Tensor, src_lengths: Tensor, b: int):
        """Source ``b`` alone, cut to its own length."""
        return src[b:b + 1, :max(int(src_lengths[b]), 1)], src_lengths[b:b + 1]
