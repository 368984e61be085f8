"""Cells: one step ``(x_t, s_{t-1}) -> (y_t, s_t)`` each, and wrappers that are cells again."""
from .base import Cell, activation
from .basic import BasicRNNCell
from .dropout import Dropout, DropoutState
from .elman import ElmanCell
from .eunn import EUNNCell
from .gru import GRUCell
from .init import (INITIALISERS, chrono_, init_, orthogonal_recurrent_, recurrent_norm_, svd_rescaled_,
                   svd_rescaled_linear_, uniform_)
from .lstm import LSTMCell
from .minimal import MinGRUCell, MinLSTMCell
from .stack import Stack
from .wrappers import Embedding, LearnedInitialState, Projection, Residual
from .zoneout import Zoneout

__all__ = ["Cell", "activation", "BasicRNNCell", "MinGRUCell", "MinLSTMCell", "Dropout", "DropoutState", "ElmanCell", "EUNNCell", "GRUCell", "LSTMCell",
           "Stack", "Embedding", "LearnedInitialState", "Projection", "Residual", "Zoneout",
           "INITIALISERS", "chrono_", "init_", "recurrent_norm_", "orthogonal_recurrent_", "svd_rescaled_", "svd_rescaled_linear_", "uniform_"]
