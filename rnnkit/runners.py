"""Runners: a cell unrolled over variable-length sequences (the Simple RNNs post), and Albert's notes' modes.

One masking model everywhere. For a batch ``x`` (B, T, D) with ``lengths`` (B,):

- past a sequence's length its state passes through unchanged and its output is zero, so
  ``final_state`` is the state after each sequence's own last step;
- ``reverse=True`` runs each sequence backwards inside its own length, never into its padding;
  outputs stay aligned with the input positions (as torch.nn.LSTM's backward direction).

Albert's notes defines, for ``f : A x S -> B x S``, the many-to-many map (all outputs), the many-to-one map
(``f*(a_1..a_n) = b_n``), the one-to-many map (feed ``a`` at every step, or ``a`` then a blank), and the
many-to-one-to-many encoder-decoder. Each has a function or class here.

>>> from rnnkit import LSTMCell
>>> cell = LSTMCell(3, 4)
>>> y, s = unroll(cell, torch.randn(2, 5, 3), lengths=torch.tensor([5, 2]))
>>> tuple(y.shape), bool((y[1, 2:] == 0).all())
((2, 5, 4), True)
"""
from __future__ import annotations

import copy
from typing import Callable, NamedTuple, Sequence

import torch
from torch import Tensor, nn

from . import kernels
from .cells import Stack
from .sequence import check_lengths, check_sequence_input, check_state, last_output, reverse_padded
from .state import State, leaves, where_state

# ----------------------------------------------------------------------------------------- unroll


def unroll(cell: nn.Module, x: Tensor, *, lengths=None, initial_state: State = None,
           reverse: bool = False) -> tuple[Tensor, State]:
    r"""Run ``cell`` over ``x`` (B, T, D) [or (B, T) ids]; returns ``outputs`` (B, T, O) and ``final_state``.

    Backpropagation through time is autograd through this loop (the Simple RNNs post and the RNN 1 notes). The loop steps
    through ``x.unbind(1)`` and stacks outputs once, so backward stays O(T); the input projection of
    built-in cells is one matrix product for all steps.
    """
    B, T = check_sequence_input(cell, x)
    lengths = check_lengths(lengths, B, T, x.device)
    dtype = x.dtype if x.is_floating_point() else None
    reference = cell.initial_state(B, device=x.device, dtype=dtype)
    if initial_state is None:
        state = reference
    else:
        check_state(cell, initial_state, reference)
        state = initial_state
    path = kernels.find(cell, x)
    if path is not None:
        return path.run(cell, x, lengths, state, reverse)
    if type(cell) is Stack and _has_fast_layer(cell, x):
        return _unroll_layer_by_layer(cell, x, lengths, state, reverse)
    if reverse:
        x = reverse_padded(x, lengths)
    # Steps where every sequence is live need no mask; steps past the longest need no work.
    live_all, live_any = T, T
    if lengths is not None:
        live_all, live_any = (int(lengths.min()), int(lengths.max())) if B else (0, 0)
    hoist = getattr(cell, "hoists_input", False)                               # a declared capability
    inputs = cell.project_input(x[:, :live_any]) if hoist else x[:, :live_any]
    advance = cell.step if hoist else cell
    outputs: list[Tensor] = []
    for t, x_t in enumerate(inputs.unbind(1)):
        y_t, new = advance(x_t, state)
        if t >= live_all:
            keep = t < lengths                                                  # (B,)
            state = where_state(keep, new, state)
            y_t = y_t * keep.unsqueeze(1).to(y_t.dtype)
        else:
            state = new
        outputs.append(y_t)
    y = _stack_outputs(outputs, cell, B, T, x, state)
    if reverse:
        y = reverse_padded(y, lengths)
    return y, state


def _has_fast_layer(stack: nn.Module, x: Tensor) -> bool:
    """Does any cell of ``stack`` have a fast path for sequences shaped like ``x``?"""
    probe = x if x.is_floating_point() else x.new_empty(0, dtype=torch.get_default_dtype())
    probe = probe.new_empty(1, x.shape[1], 1)                               # path_for reads T, dtype, device
    return any(kernels.find(c, probe) is not None for c in stack.cells)


def _unroll_layer_by_layer(stack: nn.Module, x: Tensor, lengths, states: tuple, reverse: bool):
    """A Stack over whole sequences one cell at a time, so each cell takes its own fast path. The same
    maths as stepping the stack: cell k at step t reads cell k-1's output at step t."""
    finals = []
    for cell, s in zip(stack.cells, states):
        x, s = unroll(cell, x, lengths=lengths, initial_state=s, reverse=reverse)
        finals.append(s)
    return x, tuple(finals)


def _stack_outputs(outputs: list[Tensor], cell: nn.Module, B: int, T: int, x: Tensor, state: State) -> Tensor:
    """(B, T, O) from the computed steps, zero-padded to T (dtype of the outputs, else of the state)."""
    state_leaves = leaves(state)
    dtype = outputs[0].dtype if outputs else (state_leaves[0].dtype if state_leaves else torch.get_default_dtype())
    if len(outputs) < T:
        outputs = outputs + [x.new_zeros(B, cell.output_size, dtype=dtype)] * (T - len(outputs))
    if not outputs:
        return x.new_zeros(B, 0, cell.output_size, dtype=dtype)
    return torch.stack(outputs, dim=1)


# ----------------------------------------------------------------------------------------- modules


class RNN(nn.Module):
    """A cell as a module over sequences: ``RNN(cell)(x, lengths) -> (outputs, final_state)``.

    >>> from rnnkit import GRUCell
    >>> rnn = RNN(GRUCell(3, 4), reverse=True)
    >>> y, h = rnn(torch.randn(2, 6, 3), lengths=[6, 1])
    >>> tuple(y.shape), tuple(h.shape)
    ((2, 6, 4), (2, 4))
    """

    def __init__(self, cell: nn.Module, *, reverse: bool = False):
        super().__init__()
        self.cell, self.reverse = cell, reverse
        self.input_size, self.output_size = cell.input_size, cell.output_size
        self.takes_tokens = getattr(cell, "takes_tokens", False)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> State:
        return self.cell.initial_state(batch_size, device=device, dtype=dtype)

    def forward(self, x: Tensor, lengths=None, initial_state: State = None) -> tuple[Tensor, State]:
        return unroll(self.cell, x, lengths=lengths, initial_state=initial_state, reverse=self.reverse)


class BidirectionalState(NamedTuple):
    """Named state layout of a bidirectional run: never a flat ``num_layers * num_directions`` index."""

    forward: State
    backward: State


MERGES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "concat": lambda a, b: torch.cat([a, b], dim=-1),
    "sum": torch.add,
    "mean": lambda a, b: (a + b) / 2,
    "mul": torch.mul,
}


class Bidirectional(nn.Module):
    """Run one cell forwards and another backwards (inside each sequence's length), then merge.

    ``merge`` is ``"concat"`` (O_f + O_b features), ``"sum"``, ``"mean"`` or ``"mul"``. Without a
    ``backward`` cell, a fresh copy of ``forward`` (re-initialised) runs backwards. The final state is
    ``BidirectionalState(forward=..., backward=...)``; the backward one is the state after position 0.

    >>> from rnnkit import LSTMCell
    >>> bi = Bidirectional(LSTMCell(3, 4))
    >>> y, s = bi(torch.randn(2, 5, 3), lengths=[5, 3])
    >>> tuple(y.shape), tuple(s.backward.h.shape)
    ((2, 5, 8), (2, 4))
    """

    def __init__(self, forward: nn.Module, backward: nn.Module | None = None, *, merge: str = "concat"):
        super().__init__()
        if merge not in MERGES:
            raise ValueError(f"merge must be one of {sorted(MERGES)}; received {merge!r}")
        if backward is None:
            backward = copy.deepcopy(forward)
            for m in backward.modules():
                if hasattr(m, "reset_parameters"):
                    m.reset_parameters()
        if forward.input_size != backward.input_size:
            raise ValueError(f"Bidirectional needs both cells to take the same input size; received "
                             f"{forward.input_size} and {backward.input_size}")
        if merge != "concat" and forward.output_size != backward.output_size:
            raise ValueError(f"merge={merge!r} needs equal output sizes; received {forward.output_size} and "
                             f"{backward.output_size}")
        self.fw, self.bw, self.merge = forward, backward, merge
        self.input_size = forward.input_size
        self.takes_tokens = getattr(forward, "takes_tokens", False)
        self.output_size = forward.output_size + backward.output_size if merge == "concat" else forward.output_size

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> BidirectionalState:
        return BidirectionalState(self.fw.initial_state(batch_size, device=device, dtype=dtype),
                                  self.bw.initial_state(batch_size, device=device, dtype=dtype))

    def directions(self, x: Tensor, lengths=None, initial_state: BidirectionalState | None = None):
        """Both runs unmerged: ``(y_forward, y_backward, BidirectionalState)``."""
        s_f, s_b = initial_state if initial_state is not None else (None, None)
        y_f, s_f = unroll(self.fw, x, lengths=lengths, initial_state=s_f)
        y_b, s_b = unroll(self.bw, x, lengths=lengths, initial_state=s_b, reverse=True)
        return y_f, y_b, BidirectionalState(s_f, s_b)

    def forward(self, x: Tensor, lengths=None, initial_state: BidirectionalState | None = None):
        y_f, y_b, state = self.directions(x, lengths, initial_state)
        return MERGES[self.merge](y_f, y_b), state


class Layers(nn.Module):
    """Runners one after another, each over the whole sequence (torch.nn.LSTM's ``num_layers``).

    Unlike ``Stack`` (a cell), a layer here may be ``Bidirectional``: layer k+1 reads both directions
    of layer k. ``dropout`` is applied between layers in training, as torch.nn.LSTM does.
    The state is a tuple, one entry per layer.

    >>> from rnnkit import LSTMCell
    >>> net = Layers([Bidirectional(LSTMCell(3, 4)), Bidirectional(LSTMCell(8, 4))])
    >>> y, (s1, s2) = net(torch.randn(2, 5, 3), lengths=[5, 2])
    >>> tuple(y.shape), tuple(s2.forward.c.shape)
    ((2, 5, 8), (2, 4))
    """

    def __init__(self, layers: Sequence[nn.Module], *, dropout: float = 0.0):
        super().__init__()
        layers = [layer if isinstance(layer, (RNN, Bidirectional, Layers)) else RNN(layer) for layer in layers]
        if not layers:
            raise ValueError("Layers needs at least one layer; received an empty list")
        for k, (a, b) in enumerate(zip(layers, layers[1:])):
            if a.output_size != b.input_size:
                raise ValueError(f"Layers: layer {k} outputs {a.output_size} features but layer {k + 1} expects "
                                 f"{b.input_size}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); received {dropout!r}")
        self.layers, self.dropout = nn.ModuleList(layers), dropout
        self.input_size, self.output_size = layers[0].input_size, layers[-1].output_size
        self.takes_tokens = getattr(layers[0], "takes_tokens", False)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> tuple:
        return tuple(layer.initial_state(batch_size, device=device, dtype=dtype) for layer in self.layers)

    def forward(self, x: Tensor, lengths=None, initial_state: tuple | None = None) -> tuple[Tensor, tuple]:
        states = initial_state if initial_state is not None else (None,) * len(self.layers)
        if len(states) != len(self.layers):
            raise ValueError(f"Layers expects one initial state per layer ({len(self.layers)}); received {len(states)}")
        finals = []
        for k, (layer, s) in enumerate(zip(self.layers, states)):
            if k and self.dropout:
                x = nn.functional.dropout(x, self.dropout, self.training)
            x, s = layer(x, lengths, s)
            finals.append(s)
        return x, tuple(finals)


def as_runner(module: nn.Module) -> nn.Module:
    """A runner (``RNN``, ``Bidirectional``, ``Layers``) as is; a cell wrapped in ``RNN``."""
    return module if isinstance(module, (RNN, Bidirectional, Layers)) else RNN(module)


# ------------------------------------------------------------------------------- Albert's notes' modes


def many_to_one(module: nn.Module, x: Tensor, lengths=None, initial_state: State = None) -> tuple[Tensor, State]:
    """Albert's notes' many-to-one map: one output per sequence, ``(B, O)``, and the final state.

    A ``Bidirectional`` joins the forward run's last output with the backward run's first (the
    backward run ends at position 0), as Albert's notes' bidirectional Buzzometer does.
    """
    if isinstance(module, Bidirectional):
        B = x.shape[0]
        lengths_t = check_lengths(lengths, B, x.shape[1], x.device)
        y_f, y_b, state = module.directions(x, lengths_t, initial_state)
        first_b = y_b[:, 0] if y_b.shape[1] else y_b.new_zeros(B, y_b.shape[-1])
        return MERGES[module.merge](last_output(y_f, lengths_t), first_b), state
    runner = as_runner(module)
    y, state = runner(x, lengths, initial_state)
    lengths_t = None if lengths is None else torch.as_tensor(lengths, device=y.device)
    return last_output(y, lengths_t), state


def one_to_many(cell: nn.Module, a: Tensor, *, max_steps: int, feed: str = "every", blank: Tensor | None = None,
                stop: Callable[[Tensor, State], Tensor] | None = None,
                initial_state: State = None) -> tuple[Tensor, Tensor, State]:
    """Albert's notes' one-to-many map: ``b_1, s_1 = f(a, s_0)``, then ``b_{n+1}, s_{n+1} = f(a or blank, s_n)``.

    ``feed="every"`` feeds ``a`` (B, D) at every step; ``feed="first"`` feeds it once and ``blank``
    (default zeros) after. ``stop(y_t, s_t) -> (B,) bool`` ends a sequence after the step where it is
    true (a stop symbol); every sequence ends at ``max_steps``. A stopped sequence's outputs are zero
    and its state frozen, as in ``unroll``. Returns ``(outputs (B, T', O), lengths (B,), final_state)``.

    >>> from rnnkit import GRUCell
    >>> y, n, h = one_to_many(GRUCell(2, 3), torch.ones(4, 2), max_steps=5, feed="first")
    >>> tuple(y.shape), n.tolist()
    ((4, 5, 3), [5, 5, 5, 5])
    """
    if feed not in ("every", "first"):
        raise ValueError(f"feed must be 'every' or 'first'; received {feed!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0:
        raise ValueError(f"max_steps must be an int >= 0; received {max_steps!r}")
    B = a.shape[0]
    state = initial_state if initial_state is not None else cell.initial_state(
        B, device=a.device, dtype=a.dtype if a.is_floating_point() else None)
    blank = torch.zeros_like(a) if blank is None else blank.expand_as(a)
    live = torch.ones(B, dtype=torch.bool, device=a.device)
    lengths = torch.zeros(B, dtype=torch.long, device=a.device)
    outputs = []
    for t in range(max_steps):
        if not bool(live.any()):
            break
        y_t, new = cell(a if (t == 0 or feed == "every") else blank, state)
        state = where_state(live, new, state)
        outputs.append(y_t * live.unsqueeze(1).to(y_t.dtype))
        lengths = lengths + live.long()
        if stop is not None:
            live = live & ~stop(y_t, new).to(torch.bool)
    if not outputs:
        return a.new_zeros(B, 0, cell.output_size), lengths, state
    return torch.stack(outputs, dim=1), lengths, state


class EncoderDecoder(nn.Module):
    """Albert's notes' many-to-one-to-many network: an encoder reads the source, its final state starts the decoder.

    ``bridge`` maps the encoder's final state to the decoder's initial state (default: the same
    state, which needs matching cells). The decoder reads ``y_in`` (B, T', ·) with teacher forcing.
    With attention over the encoder's outputs, see ``rnnkit.models.Seq2Seq``.

    >>> from rnnkit import LSTMCell
    >>> net = EncoderDecoder(LSTMCell(3, 8), LSTMCell(5, 8))
    >>> y, s = net(torch.randn(2, 7, 3), [7, 4], torch.randn(2, 6, 5), [6, 6])
    >>> tuple(y.shape)
    (2, 6, 8)
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, *, bridge: Callable[[State], State] | None = None):
        super().__init__()
        self.encoder, self.decoder = as_runner(encoder), decoder
        self.bridge = bridge
        self.output_size = decoder.output_size

    def encode(self, x: Tensor, lengths=None) -> tuple[Tensor, State]:
        memory, state = self.encoder(x, lengths)
        return memory, (self.bridge(state) if self.bridge is not None else state)

    def forward(self, x: Tensor, x_lengths, y_in: Tensor, y_lengths=None) -> tuple[Tensor, State]:
        _, state = self.encode(x, x_lengths)
        return unroll(self.decoder, y_in, lengths=y_lengths, initial_state=state)


__all__ = ["unroll", "reverse_padded", "last_output", "RNN", "Bidirectional", "BidirectionalState", "Layers",
           "many_to_one", "one_to_many", "EncoderDecoder", "as_runner"]
