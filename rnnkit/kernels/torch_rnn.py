"""Plain configurations run on torch's own fused RNN ops (``torch.lstm``, ``torch.gru``, ``torch.rnn_tanh``,
``torch.rnn_relu``: what ``torch.nn.LSTM`` etc. call, oneDNN on CPU for the LSTM).

Exactly the same maths as the cells: the weights are passed as their transposes (torch stores
(out, in)), an LSTM's ``forget_bias`` is added to ``b_ih``'s f block (a zero ``b_ih`` when the cell has
no bias), and ``b_hh`` is zero for the LSTM and Elman cells (their bias is one vector). An Elman
cell's output map (``o_t = act_o(h_t W_ho + b_o)``) does not feed back, so it is one product over all
steps after.

How the registered ``"torch"`` path runs a call is ``route(cell, x, lengths)``, since the registry's
``supports`` does not see the lengths:

- ``"op"``: a full-length batch (no lengths, or all equal to T): torch's op over the batch.
- With padding on the CPU, a loop linear in T, because the backward of torch's packed-sequence op
  grows faster than T there (the plain LSTM at 32×T×128×128, lengths in [T/10, T], forward+backward
  on one thread: 3.1 / 41.6 / 163 CPU s at T = 500 / 1000 / 2000 against 0.35 / 0.78 / 1.78 s for the
  compiled loop; ``python benchmarks/kernel_choice.py --lengths``):
  ``"native-lstm"`` / ``"native-gru"`` / ``"native-elman"``, the compiled loop of the cell's own path
  (``lstm.py``, ``gru.py``, ``elman.py``) where the compiled kernels are usable; without them
  ``"fused-lstm"``, an LSTM's recurrence in PyTorch ops (``LSTMRecurrence``), and ``"padded-op"``, a
  GRU or Elman cell on torch's op over the whole padded batch (its outputs before each length do not
  depend on what follows, and the final state is the output at each sequence's last step, the
  initial state for a length of 0; an LSTM's final ``c`` is not among the op's outputs).
- ``"packed"``: with padding elsewhere (CUDA: cuDNN's packed op), a packed sequence, whose semantics
  are rnnkit's masking model (state carried, zero outputs past each length). Sequences of length 0
  are left out of the packed run: their outputs are zero and their state is the initial one.

``reverse`` reverses each sequence inside its length first. ``torch_unroll`` runs the routes on
torch's ops (``OP_ROUTES``); the others are the runs of the paths of those names.

>>> import rnnkit as rk
>>> cell, x = rk.LSTMCell(3, 4), torch.randn(2, 5, 3)
>>> route(cell, x, None), route(cell, x, torch.tensor([5, 2])) in ("native-lstm", "fused-lstm")
('op', True)
"""
from __future__ import annotations

import torch
from torch import Tensor, _VF
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..cells import ElmanCell, GRUCell, LSTMCell
from ..sequence import all_full, reverse_padded, step_mask
from ..state import LSTMState
from . import native
from .gru import native_computes as _gru_computes
from .lstm import native_computes as _lstm_computes
from .lstm import python_computes as _lstm_python

OP_ROUTES = ("op", "packed", "padded-op")                           # run by torch_unroll
LOOP_ROUTES = ("native-lstm", "native-gru", "native-elman", "fused-lstm")   # the paths of those names
ROUTES = OP_ROUTES + LOOP_ROUTES


def route(cell, x: Tensor, lengths: Tensor | None) -> str:
    """How the ``"torch"`` path runs this call, one of ``ROUTES``: ``"op"`` (torch's op over a
    full-length batch), ``"packed"`` (its packed-sequence op, off the CPU), or for variable lengths on
    the CPU a loop linear in T (the module docstring)."""
    if all_full(lengths, x.shape[1]):
        return "op"
    if x.device.type != "cpu":
        return "packed"
    kind = type(cell)
    if native.usable(x):
        if kind is LSTMCell and _lstm_computes(cell):
            return "native-lstm"
        if kind is GRUCell and _gru_computes(cell):
            return "native-gru"
        if kind is ElmanCell and cell.spec().fused_op is not None:   # elman.native_computes for a cell alone
            return "native-elman"
    if kind is LSTMCell:
        return "fused-lstm" if _lstm_python(cell) else "packed"
    return "padded-op"


def _params(cell) -> tuple[str, list[Tensor], bool]:
    """(torch op name, flat weights in torch's order and layout, has_biases)."""
    op = cell.spec().fused_op
    if type(cell) is LSTMCell:
        params = [cell.weight_ih.t(), cell.weight_hh.t()]
        has_biases = cell.bias is not None or bool(cell.forget_bias)    # without a bias the forget bias is one
        if has_biases:
            bias = cell.bias if cell.bias is not None else cell.weight_ih.new_zeros(cell.weight_ih.shape[1])
            if cell.forget_bias:
                H = cell.hidden_size
                shift = torch.zeros_like(bias)
                shift[H:2 * H] = cell.forget_bias
                bias = bias + shift
            params += [bias, torch.zeros_like(bias)]
        if cell.weight_proj is not None:
            params.append(cell.weight_proj.t())
        return op, params, has_biases
    if type(cell) is GRUCell:
        params = [cell.weight_ih.t(), cell.weight_hh.t()]
        if cell.bias_ih is not None:
            params += [cell.bias_ih, cell.bias_hh]
        return op, params, cell.bias_ih is not None
    params = [cell.weight_ih.t(), cell.weight_hh.t()]
    if cell.bias is not None:
        params += [cell.bias, torch.zeros_like(cell.bias)]
    return op, params, cell.bias is not None


def torch_unroll(cell, x: Tensor, lengths: Tensor | None, state, reverse: bool, *, how: str | None = None):
    """``unroll`` for a plain LSTMCell / GRUCell / ElmanCell on torch's fused ops: ``how`` is one of
    ``OP_ROUTES``, by default ``"op"`` for a full-length batch and ``"packed"`` for one with padding
    (what torch.nn does). The ``"torch"`` path calls it with ``route``'s choice when that is one of
    ``OP_ROUTES``, and the loop of the path ``route`` names otherwise (``kernels/__init__.py``)."""
    if how is None:
        how = "op" if all_full(lengths, x.shape[1]) else "packed"
    if how not in OP_ROUTES or (how == "op" and not all_full(lengths, x.shape[1])) or \
            (how == "padded-op" and type(cell) is LSTMCell):
        raise ValueError(f"torch_unroll: route {how!r} does not serve this call; torch's op routes: {OP_ROUTES}")
    op, params, has_biases = _params(cell)
    # torch's ops run faster on contiguous (out, in) weights than on transposed views (benchmarks/README.md);
    # the copies are small and differentiable.
    params = [p.contiguous() for p in params]
    fn = getattr(_VF, op)
    is_lstm = op == "lstm"
    B, T = x.shape[:2]
    if reverse:
        x = reverse_padded(x, lengths)
    if how == "op":
        hx = (state.h.unsqueeze(0), state.c.unsqueeze(0)) if is_lstm else state.unsqueeze(0)
        y, *hn = fn(x, hx, params, has_biases, 1, 0.0, False, False, True)
    elif how == "padded-op":                    # GRU / Elman: the output is the state
        y, _ = fn(x, state.unsqueeze(0), params, has_biases, 1, 0.0, False, False, True)
        last = (lengths - 1).clamp(min=0).view(B, 1, 1).expand(B, 1, y.shape[-1])
        h = torch.where((lengths > 0).unsqueeze(1), y.gather(1, last).squeeze(1), state)
        y = torch.where(step_mask(lengths, T).unsqueeze(-1), y, y.new_zeros(()))
        hn = [h.unsqueeze(0)]
    else:
        live = lengths > 0
        if not bool(live.any()):
            return x.new_zeros(B, T, cell.output_size, dtype=x.dtype), state
        keep = live.nonzero().squeeze(1) if not bool(live.all()) else None
        xs, ls, st = (x, lengths, state) if keep is None else (x[keep], lengths[keep], _select(state, keep))
        packed = pack_padded_sequence(xs, ls.cpu(), batch_first=True, enforce_sorted=False)
        order, unorder = packed.sorted_indices, packed.unsorted_indices
        hx = (st.h[order].unsqueeze(0), st.c[order].unsqueeze(0)) if is_lstm else st[order].unsqueeze(0)
        data, *hn = fn(packed.data, packed.batch_sizes, hx, params, has_biases, 1, 0.0, False, False)
        y, _ = pad_packed_sequence(PackedSequence(data, packed.batch_sizes, order, unorder), batch_first=True,
                                   total_length=T)
        hn = [h[:, unorder] for h in hn]
        if keep is not None:                    # scatter back among the empty sequences
            full = x.new_zeros(B, T, y.shape[-1])
            y = full.index_copy(0, keep, y)
            init = [state.h, state.c] if is_lstm else [state]
            hn = [s.unsqueeze(0).index_copy(1, keep, h) for s, h in zip(init, hn)]
    if reverse:
        y = reverse_padded(y, lengths)
    if getattr(cell, "has_output_map", False):          # an Elman output map reads h_t only: all steps at once
        y = output_map(cell, y, lengths)
    if is_lstm:
        return y, LSTMState(hn[0][0], hn[1][0])
    return y, hn[0][0]


def output_map(cell, h: Tensor, lengths: Tensor | None) -> Tensor:
    """o_t = act_o(h_t W_ho + b_o) for every step in one product, zero past each length: (B, T, O)."""
    o = cell.act_o(torch.addmm(cell.bias_o, h.reshape(-1, h.shape[-1]), cell.weight_ho).view(*h.shape[:2], -1))
    if lengths is None:
        return o
    return o * step_mask(lengths, h.shape[1]).unsqueeze(-1).to(o.dtype)


def _select(state, index: Tensor):
    if isinstance(state, LSTMState):
        return LSTMState(state.h[index], state.c[index])
    return state[index]
