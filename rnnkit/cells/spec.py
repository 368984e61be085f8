"""One description of a built-in cell's configuration, read by routing, interop and the kernels.

``cell.spec()`` returns a frozen dataclass of the cell's options. Which options stop a cell from
being computed by torch's own fused recurrences (``torch.lstm``, ``torch.gru``, ``torch.rnn_tanh``,
``torch.rnn_relu``, what ``torch.nn.LSTM/GRU/RNN`` call) is decided here, once:
``spec.torch_extras()`` lists them and ``spec.fused_op`` names the op when there are none.

>>> LSTMSpec(3, 8, peepholes=True).torch_extras()
['peepholes']
>>> LSTMSpec(3, 8, proj_size=4).fused_op, GRUSpec(3, 8, reset_after=False).fused_op
('lstm', None)
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LSTMSpec", "GRUSpec", "ElmanSpec"]


def _extras(pairs) -> list[str]:
    return [name for name, on in pairs if on]


@dataclass(frozen=True)
class LSTMSpec:
    input_size: int
    hidden_size: int
    proj_size: int | None = None
    forget_bias: float = 1.0
    peepholes: bool = False
    cell_clip: float | None = None
    proj_clip: float | None = None
    forget_gate: bool = True
    layer_norm: bool = False
    activation: str = "tanh"          # a callable activation is "custom"
    bias: bool = True

    def torch_extras(self) -> list[str]:
        """The options torch's fused LSTM lacks (it has the projection, and the forget bias as a bias)."""
        return _extras((("peepholes", self.peepholes), ("cell_clip", self.cell_clip is not None),
                        ("proj_clip", self.proj_clip is not None), ("layer_norm", self.layer_norm),
                        ("forget_gate=False", not self.forget_gate),
                        (f"activation={self.activation!r}", self.activation != "tanh")))

    @property
    def fused_op(self) -> str | None:
        return None if self.torch_extras() else "lstm"


@dataclass(frozen=True)
class GRUSpec:
    input_size: int
    hidden_size: int
    layer_norm: bool = False
    reset_after: bool = True
    bias: bool = True

    def torch_extras(self) -> list[str]:
        """torch's GRU resets after the recurrent product (cuDNN's form) and has no layer norm."""
        return _extras((("layer_norm", self.layer_norm), ("reset_after=False", not self.reset_after)))

    @property
    def fused_op(self) -> str | None:
        return None if self.torch_extras() else "gru"


@dataclass(frozen=True)
class ElmanSpec:
    input_size: int
    hidden_size: int
    activation: str = "tanh"
    bias: bool = True
    output_size: int | None = None    # an output map o_t = act_o(h_t W_ho + b_o), which does not feed back
    output_activation: str = "identity"

    def torch_extras(self) -> list[str]:
        """Options torch's recurrence lacks: activations other than tanh and relu. The output map is not
        part of the recurrence (one product after it); ``torch.nn.RNN`` has none, see ``has_output_map``."""
        return _extras(((f"activation={self.activation!r}", self.activation not in ("tanh", "relu")),))

    @property
    def has_output_map(self) -> bool:
        return self.output_size is not None

    @property
    def fused_op(self) -> str | None:
        return None if self.torch_extras() else f"rnn_{self.activation}"
