"""Weights to and from torch.nn.LSTM, torch.nn.GRU and torch.nn.RNN: all layers, both directions, proj_size.

Layouts (torch stores (out, in); rnnkit stores (in, out) as the seeds write ``x W``, so each weight is
the transpose of torch's):

=============  ===================  ============================================================
torch module   gate order           rnnkit cell                  <- torch parameters (layer k)
=============  ===================  ============================================================
nn.LSTM        i, f, g, o           ``LSTMCell(forget_bias=0)``  weight_ih = W_ih_lk.T, weight_hh = W_hh_lk.T,
                                                                 bias = b_ih_lk + b_hh_lk, weight_proj = W_hr_lk.T
nn.GRU         r, z, n              ``GRUCell``                  weight_ih = W_ih_lk.T, weight_hh = W_hh_lk.T,
                                                                 bias_ih = b_ih_lk, bias_hh = b_hh_lk
nn.RNN         (one)                ``ElmanCell``                weight_ih = W_ih_lk.T, weight_hh = W_hh_lk.T,
                                                                 bias = b_ih_lk + b_hh_lk
=============  ===================  ============================================================

The reverse direction's parameters carry the suffix ``_reverse``. Going to torch, an LSTM's
``forget_bias`` is folded into ``bias_ih``'s f block and ``bias_hh`` is zero (the sums are the same).
The runner built from a torch module is ``Layers`` of ``RNN`` (one direction) or ``Bidirectional``
layers, always batch-first; its state is a tuple with one entry per layer.

>>> lstm = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True)
>>> net = from_torch(lstm)
>>> x = torch.randn(2, 4, 3)
>>> torch.allclose(net(x)[0], lstm(x)[0], atol=1e-6)
True
"""
from __future__ import annotations

import torch
from torch import nn

from ..cells import ElmanCell, GRUCell, LSTMCell, Stack
from ..runners import RNN, Bidirectional, Layers


def _torch_kind(module: nn.Module) -> str:
    for kind in ("LSTM", "GRU", "RNN"):
        if type(module) is getattr(nn, kind):
            return kind
    raise TypeError(f"expected torch.nn.LSTM, torch.nn.GRU or torch.nn.RNN; received {type(module).__name__}")


def _new_cell(module: nn.Module, kind: str, input_size: int) -> nn.Module:
    H, bias = module.hidden_size, module.bias
    if kind == "LSTM":
        return LSTMCell(input_size, H, proj_size=module.proj_size or None, forget_bias=0.0, bias=bias)
    if kind == "GRU":
        return GRUCell(input_size, H, bias=bias)
    return ElmanCell(input_size, H, activation=module.nonlinearity, bias=bias)


def _layer_cells(runner: nn.Module) -> list[tuple[nn.Module, nn.Module | None]]:
    """(forward cell, backward cell or None) per layer of an rnnkit runner or cell."""
    if isinstance(runner, Layers):
        return [pair for layer in runner.layers for pair in _layer_cells(layer)]
    if isinstance(runner, Bidirectional):
        return [(runner.fw, runner.bw)]
    if isinstance(runner, RNN):
        if runner.reverse:
            raise ValueError("a reversed RNN alone has no torch.nn equivalent; use Bidirectional")
        return _layer_cells(runner.cell)
    if isinstance(runner, Stack):
        return [(c, None) for c in runner.cells]
    return [(runner, None)]


def _check_plain(cell: nn.Module, kind: str) -> None:
    """torch.nn has no peepholes, clipping, layer norm, other activations or output maps: refuse them."""
    expected = {"LSTM": LSTMCell, "GRU": GRUCell, "RNN": ElmanCell}[kind]
    if type(cell) is not expected:
        raise TypeError(f"torch.nn.{kind} layers map to {expected.__name__}; received {type(cell).__name__}")
    extras = cell.spec().torch_extras()
    if kind == "RNN" and cell.has_output_map:
        extras.append("an output map")
    if extras:
        raise ValueError(f"torch.nn.{kind} has no {', '.join(extras)}; this {type(cell).__name__} cannot be converted")


@torch.no_grad()
def _copy_from_torch(cell: nn.Module, module: nn.Module, kind: str, sfx: str) -> None:
    p = dict(module.named_parameters())
    cell.weight_ih.copy_(p[f"weight_ih{sfx}"].T)
    cell.weight_hh.copy_(p[f"weight_hh{sfx}"].T)
    if kind == "GRU":
        if module.bias:
            cell.bias_ih.copy_(p[f"bias_ih{sfx}"])
            cell.bias_hh.copy_(p[f"bias_hh{sfx}"])
        return
    if module.bias:
        bias = p[f"bias_ih{sfx}"] + p[f"bias_hh{sfx}"]
        if kind == "LSTM":
            H = cell.hidden_size
            bias = bias.clone()
            bias[H:2 * H] -= cell.forget_bias
        cell.bias.copy_(bias)
    if kind == "LSTM" and cell.weight_proj is not None:
        cell.weight_proj.copy_(p[f"weight_hr{sfx}"].T)


@torch.no_grad()
def _copy_to_torch(cell: nn.Module, module: nn.Module, kind: str, sfx: str) -> None:
    p = dict(module.named_parameters())
    p[f"weight_ih{sfx}"].copy_(cell.weight_ih.T)
    p[f"weight_hh{sfx}"].copy_(cell.weight_hh.T)
    if not module.bias:
        return
    if kind == "GRU":
        p[f"bias_ih{sfx}"].copy_(cell.bias_ih)
        p[f"bias_hh{sfx}"].copy_(cell.bias_hh)
    else:
        bias = cell.bias.clone()
        if kind == "LSTM":
            H = cell.hidden_size
            bias[H:2 * H] += cell.forget_bias
        p[f"bias_ih{sfx}"].copy_(bias)
        p[f"bias_hh{sfx}"].zero_()
    if kind == "LSTM" and cell.weight_proj is not None:
        p[f"weight_hr{sfx}"].copy_(cell.weight_proj.T)


def _pairs(runner: nn.Module, module: nn.Module, kind: str):
    """(rnnkit cell, parameter suffix) for every layer and direction, after checking the structures agree."""
    layers = _layer_cells(runner)
    dirs = 2 if module.bidirectional else 1
    if len(layers) != module.num_layers or any((bw is not None) != (dirs == 2) for _, bw in layers):
        raise ValueError(f"structure mismatch: torch.nn.{kind} has {module.num_layers} layer(s), "
                         f"{'bidirectional' if dirs == 2 else 'one direction'}; the rnnkit runner has {len(layers)} "
                         f"layer(s), directions {[1 if bw is None else 2 for _, bw in layers]}")
    for k, (fw, bw) in enumerate(layers):
        for cell, sfx in ((fw, f"_l{k}"), (bw, f"_l{k}_reverse")):
            if cell is None:
                continue
            _check_plain(cell, kind)
            expected_shape = tuple(dict(module.named_parameters())[f"weight_ih{sfx}"].T.shape)
            if tuple(cell.weight_ih.shape) != expected_shape or cell.hidden_size != module.hidden_size:
                raise ValueError(f"layer {k}: torch.nn.{kind} weight_ih{sfx} is (in, out)={expected_shape} with "
                                 f"hidden_size={module.hidden_size}; the rnnkit cell has {tuple(cell.weight_ih.shape)} "
                                 f"with hidden_size={cell.hidden_size}")
            yield cell, sfx


def from_torch(module: nn.Module) -> Layers:
    """A new rnnkit runner with the weights of ``module`` (torch.nn.LSTM / GRU / RNN)."""
    kind = _torch_kind(module)
    dirs = 2 if module.bidirectional else 1
    width = (module.proj_size or module.hidden_size) if kind == "LSTM" else module.hidden_size
    layers = []
    for k in range(module.num_layers):
        d_in = module.input_size if k == 0 else dirs * width
        fw = _new_cell(module, kind, d_in)
        layers.append(Bidirectional(fw, _new_cell(module, kind, d_in)) if dirs == 2 else RNN(fw))
    ref = next(module.parameters())
    runner = Layers(layers, dropout=module.dropout).to(device=ref.device, dtype=ref.dtype)
    return load_from_torch(runner, module)


def load_from_torch(runner: nn.Module, module: nn.Module) -> nn.Module:
    """Copy ``module``'s weights into an rnnkit runner of the same structure; returns the runner."""
    kind = _torch_kind(module)
    for cell, sfx in list(_pairs(runner, module, kind)):
        _copy_from_torch(cell, module, kind, sfx)
    return runner


def to_torch(runner: nn.Module, *, batch_first: bool = True) -> nn.Module:
    """A new torch.nn.LSTM / GRU / RNN with the weights of an rnnkit runner of plain cells."""
    layers = _layer_cells(runner)
    first = layers[0][0]
    kind = {LSTMCell: "LSTM", GRUCell: "GRU", ElmanCell: "RNN"}.get(type(first))
    if kind is None:
        raise TypeError(f"to_torch converts LSTMCell, GRUCell and ElmanCell layers; received {type(first).__name__}")
    kwargs = dict(num_layers=len(layers), bidirectional=layers[0][1] is not None, batch_first=batch_first,
                  bias=(first.bias_ih if kind == "GRU" else first.bias) is not None)
    if isinstance(runner, Layers):
        kwargs["dropout"] = runner.dropout
    if kind == "LSTM" and first.proj_size:
        kwargs["proj_size"] = first.proj_size
    if kind == "RNN":
        kwargs["nonlinearity"] = first.activation_name
    ref = next(first.parameters())
    module = getattr(nn, kind)(first.input_size, first.hidden_size, **kwargs).to(device=ref.device, dtype=ref.dtype)
    for cell, sfx in list(_pairs(runner, module, kind)):
        _copy_to_torch(cell, module, kind, sfx)
    return module
