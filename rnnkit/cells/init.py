"""Initialisers for recurrent weights: uniform (Albert's notes), SVD-rescaled (the Theano notebook), orthogonal,
and chrono initialisation of the gates (Tallec & Ollivier 2018).

Each takes any module and initialises the cells inside it (every submodule with ``weight_ih`` /
``weight_hh``), block by block: a weight (in, G*H) holds G gate blocks of width H.

>>> from rnnkit import LSTMCell
>>> cell = svd_rescaled_(LSTMCell(3, 6))
>>> top = torch.linalg.matrix_norm(cell.weight_hh[:, :6], ord=2).item()
>>> round(top, 5)
1.0
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .basic import BasicRNNCell
from .gru import GRUCell
from .lstm import LSTMCell


def _cells(module: nn.Module):
    return [m for m in module.modules() if isinstance(m, BasicRNNCell) or (hasattr(m, "weight_ih") and hasattr(m, "weight_hh"))]


def _matrices(cell: nn.Module) -> tuple[list[Tensor], list[Tensor]]:
    """(every weight matrix, the recurrent ones) of a cell, as views of gate blocks (in, H) where a weight
    stacks G of them; Albert's notes' basic cell keeps its four maps apart."""
    if isinstance(cell, BasicRNNCell):
        return [cell.A_u, cell.B_u, cell.A_v, cell.B_v], [cell.B_v]
    H = cell.hidden_size
    recurrent = _blocks(cell.weight_hh, H)
    output = [cell.weight_ho] if getattr(cell, "weight_ho", None) is not None else []    # the Elman output map W_ho
    return _blocks(cell.weight_ih, H) + recurrent + output, recurrent


def _blocks(weight: Tensor, width: int) -> list[Tensor]:
    """Views of the gate blocks (in, H) of a weight (in, G*H)."""
    if weight.shape[1] % width:
        return [weight]
    return list(weight.split(width, dim=1))


@torch.no_grad()
def uniform_(module: nn.Module, a: float = 0.1) -> nn.Module:
    """Every parameter of every cell from U(-a, a), biases included (Albert's notes' initialiser)."""
    if not a > 0:
        raise ValueError(f"uniform_ needs a > 0; received a={a!r}")
    for cell in _cells(module):
        for p in cell.parameters(recurse=False):
            p.uniform_(-a, a)
    return module


@torch.no_grad()
def svd_rescaled_(module: nn.Module) -> nn.Module:
    """The Theano notebook's ``sample_weights``: U(-1, 1), then divided by its largest singular value.

    Applied to each gate block of ``weight_ih`` and ``weight_hh`` so each block's spectral norm is 1
    ("the vanishing and exploding gradient depends on the largest singular value"). Biases become 0.
    """
    for cell in _cells(module):
        for block in _matrices(cell)[0]:
            _rescaled_uniform_(block)
        for name, p in cell.named_parameters(recurse=False):
            if name.startswith(("bias", "b_")):
                p.zero_()
    return module


def _rescaled_uniform_(w: Tensor) -> Tensor:
    """U(-1, 1) divided by its largest singular value (the notebook's ``sample_weights``)."""
    w.uniform_(-1.0, 1.0)
    return w.div_(torch.linalg.matrix_norm(w, ord=2))


@torch.no_grad()
def init_(module: nn.Module, scheme: str, *, readouts: tuple[nn.Module, ...] = (), scale: float = 0.1) -> nn.Module:
    """The cells inside ``module`` initialised by ``scheme``: default (each cell's own), uniform, svd or
    orthogonal (``scale``: uniform's bound a of U(-a, a)). With svd, the ``readouts`` (linear layers after the recurrent stack) are rescaled too, as the
    notebook rescales its output weights ``W_ho`` with the same ``sample_weights``; their biases become 0.

    >>> from rnnkit import BasicRNNCell
    >>> cell = init_(BasicRNNCell(3, 5), "svd")
    >>> round(torch.linalg.matrix_norm(cell.B_v.detach(), ord=2).item(), 5), float(cell.b_v.detach().abs().sum())
    (1.0, 0.0)
    """
    if scheme not in INITIALISERS:
        raise ValueError(f"init must be one of {', '.join(INITIALISERS)}; received {scheme!r}")
    if scheme == "uniform":
        uniform_(module, scale)
    else:
        INITIALISERS[scheme](module)
    if scheme == "svd":
        for layer in readouts:
            svd_rescaled_linear_(layer)
    return module


@torch.no_grad()
def svd_rescaled_linear_(layer: nn.Linear) -> nn.Linear:
    """A linear layer initialised as the notebook's output weights ``W_ho``: U(-1, 1) over its largest singular
    value, zero bias."""
    _rescaled_uniform_(layer.weight)
    if layer.bias is not None:
        layer.bias.zero_()
    return layer


@torch.no_grad()
def orthogonal_recurrent_(module: nn.Module, gain: float = 1.0) -> nn.Module:
    """Each gate block of every ``weight_hh`` orthogonal (Saxe et al. 2014); other weights untouched."""
    for cell in _cells(module):
        for block in _matrices(cell)[1]:
            q = torch.empty(block.shape, dtype=block.dtype)
            nn.init.orthogonal_(q, gain=gain)
            block.copy_(q)
    return module


@torch.no_grad()
def recurrent_norm_(module: nn.Module, norm: float) -> nn.Module:
    r"""Every recurrent gate block of every cell in ``module`` rescaled to the largest singular value ``norm``.

    The RNN 1 notes' exploding and vanishing gradients: with a linear recurrence ``s_t = W s_{t-1}``, the
    gradient ``k`` steps back is ``(W^T)^k`` applied to the last one, of size up to ``||W||^k``: ``1.1^k`` grows,
    ``0.9^k`` vanishes. With an orthogonal ``W`` (``--init orthogonal``) every singular value, and so the
    spectral radius, equals ``norm``.

    >>> from rnnkit import ElmanCell
    >>> cell = recurrent_norm_(orthogonal_recurrent_(ElmanCell(2, 6)), 1.1)
    >>> round(torch.linalg.matrix_norm(cell.weight_hh, ord=2).item(), 4)
    1.1
    """
    if not norm > 0:
        raise ValueError(f"recurrent_norm_ needs norm > 0; received {norm!r}")
    for cell in _cells(module):
        for block in _matrices(cell)[1]:
            block.mul_(norm / torch.linalg.matrix_norm(block.detach().double(), ord=2).clamp(min=1e-12).item())
    return module


@torch.no_grad()
def chrono_(module: nn.Module, max_lag: int, *, generator: torch.Generator | None = None) -> nn.Module:
    r"""Chrono initialisation (Tallec & Ollivier 2018, "Can recurrent neural networks warp time?") of
    every LSTMCell and GRUCell inside ``module``, for dependencies up to ``max_lag`` steps.

    A gate that keeps a fraction ``f`` of the state per step forgets on a time scale ``1 / (1 - f)``;
    drawing the keep gate's bias as ``log(u)``, ``u ~ U(1, max_lag - 1)``, spreads the units' time
    scales over 1 .. ``max_lag``. LSTM: forget bias ``log(u)`` (net of the constant ``forget_bias``),
    input bias ``-log(u)``; GRU: the update gate ``z`` (which keeps ``h_{t-1}``) ``log(u)``.

    >>> from rnnkit import LSTMCell
    >>> cell = chrono_(LSTMCell(3, 4, forget_bias=0.0), 100)
    >>> f_bias = cell.bias[4:8]
    >>> bool((f_bias >= 0).all() and (f_bias <= torch.log(torch.tensor(99.0))).all())
    True
    """
    if isinstance(max_lag, bool) or not isinstance(max_lag, int) or max_lag < 3:
        raise ValueError(f"chrono_ needs max_lag an int >= 3 (the longest dependency in steps); received {max_lag!r}")
    for cell in module.modules():
        if type(cell) is LSTMCell and cell.bias is not None:
            H = cell.hidden_size
            log_u = torch.empty(H, dtype=cell.bias.dtype).uniform_(1, max_lag - 1, generator=generator).log_()
            if cell.forget_gate:
                cell.bias[H:2 * H] = log_u - cell.forget_bias            # blocks i, f, u, o
            cell.bias[:H] = -log_u
        elif type(cell) is GRUCell and cell.bias_ih is not None:
            H = cell.hidden_size
            log_u = torch.empty(H, dtype=cell.bias_ih.dtype).uniform_(1, max_lag - 1, generator=generator).log_()
            cell.bias_ih[H:2 * H] = log_u                                 # blocks r, z, n
            cell.bias_hh[H:2 * H] = 0.0
    return module


INITIALISERS = {"default": lambda module: module, "uniform": uniform_, "svd": svd_rescaled_,
                "orthogonal": orthogonal_recurrent_}
