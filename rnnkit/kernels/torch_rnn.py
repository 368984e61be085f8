"""Plain configurations run on torch's own fused RNN ops (``torch.lstm``, ``torch.gru``, ``torch.rnn_tanh``,
``torch.rnn_relu``: what ``torch.nn.LSTM`` etc. call, oneDNN on CPU for the LSTM).

Exactly the same maths as the cells: the weights are passed as their transposes (torch stores
(out, in)), an LSTM's ``forget_bias`` is added to ``b_ih``'s f block, and ``b_hh`` is zero for the
LSTM and Elman cells (their bias is one vector). Variable lengths go through a packed sequence,
whose semantics are rnnkit's masking model (state carried, zero outputs past each length);
``reverse`` reverses each sequence inside its length first. Sequences of length 0 are left out of
the packed run: their outputs are zero and their state is the initial one. An Elman cell's output
map (``o_t = act_o(h_t W_ho + b_o)``) does not feed back, so it is one product over all steps after.
"""
from __future__ import annotations

import torch
from torch import Tensor, _VF
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..cells import GRUCell, LSTMCell
from ..sequence import all_full, reverse_padded, step_mask
from ..state import LSTMState


def _params(cell) -> tuple[str, list[Tensor], bool]:
    """(torch op name, flat weights in torch's order and layout, has_biases)."""
    op = cell.spec().fused_op
    if type(cell) is LSTMCell:
        params = [cell.weight_ih.t(), cell.weight_hh.t()]
        if cell.bias is not None:
            bias = cell.bias
            if cell.forget_bias:
                H = cell.hidden_size
                shift = torch.zeros_like(bias)
                shift[H:2 * H] = cell.forget_bias
                bias = bias + shift
            params += [bias, torch.zeros_like(bias)]
        if cell.weight_proj is not None:
            params.append(cell.weight_proj.t())
        return op, params, cell.bias is not None
    if type(cell) is GRUCell:
        params = [cell.weight_ih.t(), cell.weight_hh.t()]
        if cell.bias_ih is not None:
            params += [cell.bias_ih, cell.bias_hh]
        return op, params, cell.bias_ih is not None
    params = [cell.weight_ih.t(), cell.weight_hh.t()]
    if cell.bias is not None:
        params += [cell.bias, torch.zeros_like(cell.bias)]
    return op, params, cell.bias is not None


def torch_unroll(cell, x: Tensor, lengths: Tensor | None, state, reverse: bool):
    """``unroll`` for a plain LSTMCell / GRUCell / ElmanCell on torch's fused op."""
    op, params, has_biases = _params(cell)
    # torch's ops run faster on contiguous (out, in) weights than on transposed views (benchmarks/README.md);
    # the copies are small and differentiable.
    params = [p.contiguous() for p in params]
    fn = getattr(_VF, op)
    is_lstm = op == "lstm"
    B, T = x.shape[:2]
    if reverse:
        x = reverse_padded(x, lengths)
    if all_full(lengths, T):
        hx = (state.h.unsqueeze(0), state.c.unsqueeze(0)) if is_lstm else state.unsqueeze(0)
        y, *hn = fn(x, hx, params, has_biases, 1, 0.0, False, False, True)
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
