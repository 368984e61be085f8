"""rnnkit: recurrent neural networks on PyTorch.

Cells are one step ``(x_t, s_{t-1}) -> (y_t, s_t)`` (Albert's notes' ``f : A x S -> B x S``); wrappers and
stacks of cells are cells; runners unroll a cell over padded, variable-length batches.

>>> import torch, rnnkit
>>> rnn = rnnkit.RNN(rnnkit.Stack([rnnkit.LSTMCell(3, 16), rnnkit.LSTMCell(16, 16)]))
>>> y, state = rnn(torch.randn(4, 10, 3), lengths=[10, 7, 3, 0])
>>> tuple(y.shape)
(4, 10, 16)

``rnnkit.fit``, ``rnnkit.load`` and ``rnnkit.Run`` train and use a task's model from Python as ``rnnkit train``
does from the command line (``rnnkit.api``; imported when first used).
"""
from .cells import (BasicRNNCell, Cell, Dropout, DropoutState, ElmanCell, Embedding, GRUCell, LearnedInitialState,
                    LSTMCell, EUNNCell, MinGRUCell, MinLSTMCell, Projection, Residual, Stack, Zoneout, chrono_, orthogonal_recurrent_, svd_rescaled_, uniform_)
from .tools.interop import from_torch, load_from_torch, to_torch
from .runners import (RNN, Bidirectional, BidirectionalState, EncoderDecoder, Layers, last_output, many_to_one,
                      one_to_many, reverse_padded, unroll)
from .state import LSTMState, detach_state, map_state

from .version import __version__

__all__ = ["fit", "load", "Run", "BasicRNNCell", "Cell", "MinGRUCell", "MinLSTMCell", "Dropout", "DropoutState", "ElmanCell", "EUNNCell", "Embedding", "GRUCell",
           "LearnedInitialState", "LSTMCell", "Projection", "Residual", "Stack", "Zoneout", "chrono_", "orthogonal_recurrent_",
           "svd_rescaled_", "uniform_", "from_torch", "load_from_torch", "to_torch", "RNN", "Bidirectional",
           "BidirectionalState", "EncoderDecoder", "Layers", "last_output", "many_to_one", "one_to_many",
           "reverse_padded", "unroll", "LSTMState", "detach_state", "map_state"]


def __getattr__(name: str):
    """``fit``, ``load`` and ``Run``, from ``rnnkit.api`` when first asked for: ``import rnnkit`` stays the
    library of cells and runners, without the tasks and their data readers."""
    if name in ("fit", "load", "Run"):
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
