"""rnnkit.kernels.ops: the compiled recurrences as torch.ops.rnnkit operators check their inputs, and
torch.compile traces through them (fake kernels) as one op in one graph."""
import pytest
import torch

import rnnkit as rk
from rnnkit import kernels


def test_compiled_kernels_check_their_inputs():
    if kernels.native.load() is None:
        pytest.skip(kernels.native.status())
    kw = dict(reset_after=True, eps=1e-5, zone_on=False, zone_train=False, zone_p=0.0, zone_pc=0.0, zone_seed=0)
    with pytest.raises(RuntimeError, match="expected h0 of dtype"):
        torch.ops.rnnkit.gru_forward(torch.randn(4, 2, 9), torch.zeros(2, 3, dtype=torch.float64), None,
                                     torch.randn(3, 9), None, None, None, None, None, **kw)
    with pytest.raises(RuntimeError, match="expected gx of shape"):
        torch.ops.rnnkit.gru_forward(torch.randn(4, 2, 9), torch.zeros(2, 4), None, torch.randn(4, 12), None, None,
                                     None, None, None, **kw)


MODELS = {
    "lstm": lambda: rk.RNN(rk.LSTMCell(3, 8, peepholes=True)),
    "gru": lambda: rk.RNN(rk.GRUCell(3, 8, layer_norm=True)),
    "stack-dropout": lambda: rk.RNN(rk.Stack([rk.Dropout(rk.LSTMCell(3, 8), input_p=0.2, state_p=0.3,
                                                         variational=True), rk.GRUCell(8, 4)])),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_torch_compile_equals_eager_and_keeps_the_recurrent_op_in_one_graph(name):
    if kernels.native.load() is None:
        pytest.skip(kernels.native.status())
    torch.manual_seed(0)
    model = MODELS[name]()
    x, lengths = torch.randn(4, 7, 3), torch.tensor([7, 5, 2, 7])
    graphs = []

    def backend(gm, example_inputs):   # aot_eager traces forward and backward through the fake kernels
        graphs.append(gm)
        return torch._dynamo.backends.debugging.aot_eager(gm, example_inputs)

    torch._dynamo.reset()
    compiled = torch.compile(model, backend=backend)
    torch.manual_seed(1)
    y_c, s_c = compiled(x, lengths)
    torch.manual_seed(1)
    y_e, s_e = model(x, lengths)
    params = list(model.parameters())
    g_c = torch.autograd.grad(y_c.square().sum(), params)
    g_e = torch.autograd.grad(y_e.square().sum(), params)
    torch._dynamo.reset()
    assert torch.allclose(y_c, y_e, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g_c, g_e))
    traced = {str(n.target) for gm in graphs for n in gm.graph.nodes if n.op == "call_function"}
    expected = {"lstm": {"rnnkit.lstm_forward"}, "gru": {"rnnkit.gru_forward"},
                "stack-dropout": {"rnnkit.lstm_forward", "rnnkit.gru_forward"}}[name]
    assert expected <= traced, traced
