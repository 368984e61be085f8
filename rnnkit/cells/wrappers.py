"""Small wrappers, each a cell: Residual, Embedding, Projection, LearnedInitialState (the ML@B slides, the Simple RNNs post and the Theano notebook)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..state import State, leaves, map_state
from .base import Wrapper, check_size
from .base import activation as resolve_activation


class Residual(Wrapper):
    r"""``y_t = x_t + cell(x_t, s_{t-1}).y`` (the ML@B slides' ResidualWrapper); needs O == D.

    >>> from rnnkit import GRUCell
    >>> cell = Residual(GRUCell(4, 4))
    >>> y, h = cell(torch.zeros(1, 4), cell.initial_state(1))
    >>> bool(torch.equal(y, h))
    True
    """

    def __init__(self, cell: nn.Module):
        if cell.input_size != cell.output_size:
            raise ValueError(f"Residual needs a cell whose output size equals its input size; received "
                             f"input_size={cell.input_size}, output_size={cell.output_size}")
        super().__init__(cell)

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, s = self.cell(x, state)
        return x + y, s


class Embedding(Wrapper):
    r"""Token ids in: ``cell(E[x_t], s)`` with a learned table ``E`` (V, D) (the ML@B slides' EmbeddingWrapper).

    Reads ``x_t`` (B,) integer ids; ``unroll`` then takes (B, T) ids.

    >>> from rnnkit import LSTMCell
    >>> cell = Embedding(LSTMCell(8, 16), num_embeddings=10)
    >>> y, s = cell(torch.tensor([1, 9]), cell.initial_state(2))
    >>> tuple(y.shape)
    (2, 16)
    """

    def __init__(self, cell: nn.Module, num_embeddings: int, *, padding_idx: int | None = None):
        check_size("num_embeddings", num_embeddings)
        super().__init__(cell)
        self.takes_tokens = True
        self.embedding = nn.Embedding(num_embeddings, cell.input_size, padding_idx=padding_idx)
        self.num_embeddings = num_embeddings

    @property
    def hoists_input(self) -> bool:
        """Hoisting passes through: E[x] W_ih for all steps when the inner cell hoists."""
        return getattr(self.cell, "hoists_input", False)

    def check_step_input(self, x: Tensor) -> None:
        if x.is_floating_point() or x.is_complex():
            raise TypeError(f"Embedding expects integer token ids; received {x.dtype}")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.num_embeddings):
            raise ValueError(f"Embedding expects token ids in [0, {self.num_embeddings}); received ids in "
                             f"[{int(x.min())}, {int(x.max())}]")

    def project_input(self, x: Tensor) -> Tensor:
        """E[x] then the inner cell's input projection: (...,) ids -> (..., G)."""
        return self.cell.project_input(self.embedding(x))

    def step(self, gx: Tensor, state: State) -> tuple[Tensor, State]:
        return self.cell.step(gx, state)

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self.cell(self.embedding(x), state)


class Projection(Wrapper):
    r"""An output map after a cell: ``y_t = act(cell(x_t, s).y W + b)`` (the Theano notebook's ``o_t = W_ho h_t + b_o``).

    >>> from rnnkit import GRUCell
    >>> cell = Projection(GRUCell(3, 8), 5, activation="sigmoid")
    >>> y, h = cell(torch.zeros(2, 3), cell.initial_state(2))
    >>> tuple(y.shape), tuple(h.shape)
    ((2, 5), (2, 8))
    """

    def __init__(self, cell: nn.Module, output_size: int, *, activation: str = "identity", bias: bool = True):
        check_size("output_size", output_size)
        super().__init__(cell)
        self.output_size = output_size
        self.linear = nn.Linear(cell.output_size, output_size, bias=bias)
        self.act = resolve_activation(activation)

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, s = self.cell(x, state)
        return self.act(self.linear(y)), s


class LearnedInitialState(Wrapper):
    r"""A cell whose initial state ``s_0`` is learned, one vector per state leaf (the Simple RNNs post and the Theano notebook's ``h0``).

    The Simple RNNs post: "This is usually the all zeros vector but you can instead learn a constant vector that
    gets optimized during training."

    >>> from rnnkit import LSTMCell
    >>> cell = LearnedInitialState(LSTMCell(3, 4))
    >>> [tuple(p.shape) for p in cell.initial_values]
    [(4,), (4,)]
    >>> tuple(cell.initial_state(5).c.shape)
    (5, 4)
    """

    def __init__(self, cell: nn.Module):
        super().__init__(cell)
        self._template = cell.initial_state(1)
        self.initial_values = nn.ParameterList([nn.Parameter(t[0].detach().clone()) for t in leaves(self._template)])

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> State:
        values = iter(self.initial_values)

        def expand(_: Tensor) -> Tensor:
            v = next(values)
            v = v.to(device=device or v.device, dtype=dtype or v.dtype)
            return v.unsqueeze(0).expand(batch_size, *v.shape)

        return map_state(expand, self._template)
