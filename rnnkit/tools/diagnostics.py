r"""The vanishing-gradient argument, measured: how much a late loss still feels an early state.

The RNN 1 notes and the Theano notebook explain why Elman networks forget: by the chain rule through
time, the gradient of a loss at step ``T`` with respect to the state ``k`` steps earlier is a product
of ``k`` Jacobians,

.. math::
    \frac{\partial L_T}{\partial s_{T-k}} = \frac{\partial L_T}{\partial s_T}
        \prod_{j=T-k+1}^{T} \frac{\partial s_j}{\partial s_{j-1}},

which shrinks (or grows) geometrically with ``k`` when the Jacobians' norms sit below (or above) 1.
``state_gradient_norms`` measures ``||dL_T / ds_{T-k}||`` for every ``k`` by stepping any cell (the
cell contract, so every built-in cell, wrapper, Stack and a user's own cell), keeping each state in
the graph; ``plot_curves`` draws them against ``k`` on a log scale.

>>> cell = __import__("rnnkit").ElmanCell(2, 8)
>>> norms = state_gradient_norms(cell, torch.randn(4, 30, 2), lambda y: y.pow(2).sum())
>>> norms.shape[0], bool(norms[0] > norms[-1])          # k = 0 .. 30; the far past is felt less
(31, True)
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from ..state import State, leaves, map_state

__all__ = ["state_gradient_norms", "cell_path_norms", "plot_curves", "stepping_cell"]


def stepping_cell(runner: nn.Module) -> nn.Module:
    """The one cell that steps a left-to-right runner (an ``RNN``, or ``Layers`` of them as a ``Stack``)."""
    from ..cells import Stack
    from ..runners import RNN, Layers

    layers = list(runner.layers) if isinstance(runner, Layers) else [runner]
    if not all(isinstance(layer, RNN) and not layer.reverse for layer in layers):
        raise ValueError("expected a left-to-right recurrent stack; received a bidirectional or reversed one")
    cells = [layer.cell for layer in layers]
    return cells[0] if len(cells) == 1 else Stack(cells)


def state_gradient_norms(cell: nn.Module, x: Tensor, loss_fn: Callable[[Tensor], Tensor], *,
                         initial_state: State = None) -> Tensor:
    """``||dL / ds_{T-k}||`` for k = 0 .. T (T + 1 values; k = T is the initial state), the mean over the
    batch of each sequence's norm (all leaves of a tuple state together).

    ``x`` (B, T, D) is stepped through ``cell`` from ``initial_state`` (default: the cell's own);
    ``loss_fn(y_T)`` maps the last step's output (B, O) to the scalar loss ``L``.
    """
    y, states = _stepped(cell, x, initial_state)
    loss_fn(y).backward()
    return _grad_norms(states, leaves, x)


def _stepped(cell: nn.Module, x: Tensor, initial_state: State) -> tuple[Tensor, list[State]]:
    """The last output and every state s_0 .. s_T of ``x`` (B, T, D) stepped through ``cell``, each state's
    leaves keeping their gradient once a loss is differentiated."""
    if x.dim() != 3 or x.shape[1] < 1:
        raise ValueError(f"expected x of shape (B, T >= 1, D); received {tuple(x.shape)}")
    B = x.shape[0]
    state = initial_state if initial_state is not None else cell.initial_state(B, device=x.device, dtype=x.dtype)
    state = map_state(lambda t: t.detach().clone().requires_grad_(), state)
    states, y = [state], None
    for x_t in x.unbind(1):
        y, state = cell(x_t, state)
        for t in leaves(state):
            if t.requires_grad:
                t.retain_grad()
        states.append(state)
    return y, states


def _grad_norms(states: list[State], parts: Callable[[State], list[Tensor]], x: Tensor) -> Tensor:
    """For k = 0 .. T, the batch's mean of each sequence's gradient norm over ``parts(s_{T-k})`` together."""
    B, norms = x.shape[0], []
    for s in reversed(states):                                       # k = 0 first
        squares = [t.grad.reshape(B, -1).pow(2).sum(1) for t in parts(s) if t.grad is not None]
        norms.append(torch.stack(squares).sum(0).sqrt().mean() if squares else x.new_zeros(()))
    return torch.stack(norms).detach()


def memory_cell(state: State) -> Tensor | None:
    """The memory cell ``c`` of an LSTM state, or of the top layer of a stack of them; None for other states."""
    top = state[-1] if isinstance(state, tuple) and not hasattr(state, "_fields") and state else state
    return getattr(top, "c", None)


def cell_path_norms(cell: nn.Module, x: Tensor, *, initial_state: State = None) -> Tensor:
    r"""``||d(sum of c_T) / dc_{T-k}||`` for k = 0 .. T: how much an LSTM's last memory cell depends on the cell
    ``k`` steps before (the RNN 1 notes: ``c_t = f_t c_{t-1} + i_t g_t``, so along the cell ``dc_t/dc_{t-1}`` is
    ``f_t``, near 1 when the forget gate stays open and exactly 1 without a forget gate; the paths through ``h``
    add to it). Mean over the batch of each sequence's norm.

    >>> from rnnkit import LSTMCell
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(3, 40, 2)
    >>> kept = cell_path_norms(LSTMCell(2, 8, forget_gate=False), x)
    >>> forgetting = cell_path_norms(LSTMCell(2, 8), x)
    >>> bool(kept[-1] > 1.0), bool(forgetting[-1] < 1e-2)           # 40 steps back (k = 0: sqrt(8))
    (True, True)
    """
    _, states = _stepped(cell, x, initial_state)
    if memory_cell(states[0]) is None:
        raise ValueError("expected an LSTM (or a stack of them) for the memory-cell path; its state has no c")
    memory_cell(states[-1]).sum().backward()
    return _grad_norms(states, lambda s: [memory_cell(s)], x)


def plot_curves(curves: dict[str, Tensor], path: Path | str, *, title: str) -> None:
    """One line per named curve of ``||dL/ds_{T-k}||`` against k, log-scaled, written to ``path`` (PNG)
    in one piece (no half-written file)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..runtime.checkpoint import atomic_write_bytes

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, norms in curves.items():
        values = [max(float(v), 1e-30) for v in norms]
        ax.semilogy(range(len(values)), values, label=name)
    ax.set_xlabel("k (steps back from the loss)")
    ax.set_ylabel(r"$\|\partial L_T / \partial s_{T-k}\|$")
    ax.set_title(title)
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
