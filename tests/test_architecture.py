"""The package's structure: no import circles, routing by type (never by class name), a fast path
registered from outside, re-entrant switches, and the compiled operators under ``torch.compile``."""
import ast
import importlib
from pathlib import Path

import pytest
import torch
from torch import nn

import rnnkit as rk
from rnnkit import kernels
from rnnkit.cells import Cell

PACKAGE = Path(rk.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The rnnkit modules ``path`` imports anywhere in its body (function-level imports included:
    they hide a circle, they do not remove it)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("rnnkit")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if not base.startswith("rnnkit"):
                continue
            for alias in node.names:   # `from . import native` imports the module rnnkit.kernels.native
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return found - {name}


def test_every_module_imports_and_no_import_circle():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    for name in modules:
        if not name.endswith("__main__"):       # that one runs the command line
            importlib.import_module(name)
    graph = {name: {m for m in _imports(path, set(modules)) if m in modules} for name, path in modules.items()}
    # a package's __init__ re-exports its submodules; a submodule importing its own package back is the circle
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                if not all(a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(cycle, cycle[1:])):
                    pytest.fail("import circle: " + " -> ".join(cycle))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert len(modules) > 30 and "rnnkit.sequence" in modules


class _Tanh(Cell):
    """A user's cell: h_t = tanh(x_t A + h_{t-1} B); it carries attributes the built-ins have, too."""

    peepholes, layer_norm, reset_after, activation_name, has_output_map = False, False, True, "tanh", False
    variational, training_only = True, False

    def __init__(self, d=3, h=4):
        super().__init__()
        self.input_size, self.output_size, self.hidden_size = d, h, h
        self.A, self.B = nn.Parameter(torch.randn(d, h) * 0.5), nn.Parameter(torch.randn(h, h) * 0.5)
        self.weight_ih, self.weight_hh, self.cell = self.A, self.B, self

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, dtype=dtype or self.A.dtype)

    def forward(self, x, h):
        h = torch.tanh(x @ self.A + h @ self.B)
        return h, h


BUILTIN_NAMES = ["LSTMCell", "GRUCell", "ElmanCell", "BasicRNNCell", "Stack", "Dropout", "Zoneout", "Embedding",
                 "Projection", "Residual", "LearnedInitialState"]


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_user_cell_named_like_a_builtin_takes_the_generic_path(name):
    cls = type(name, (_Tanh,), {})
    torch.manual_seed(0)
    cell = cls()
    x, lengths = torch.randn(3, 6, 3), torch.tensor([6, 4, 0])
    assert kernels.path_for(cell, x) == "generic"
    y, h = rk.unroll(cell, x, lengths=lengths)
    # the naive loop: each sequence alone, up to its own length
    for b in range(3):
        hb = torch.zeros(1, 4)
        for t in range(int(lengths[b])):
            hb = torch.tanh(x[b:b + 1, t] @ cell.A + hb @ cell.B)
            assert torch.allclose(y[b, t], hb[0], atol=1e-6)
        assert torch.allclose(h[b], hb[0], atol=1e-6)
        assert bool((y[b, int(lengths[b]):] == 0).all())


def test_subclass_of_a_builtin_takes_the_generic_path():
    class MyLSTM(rk.LSTMCell):   # it may change the step: routing by exact type keeps it generic
        pass

    assert kernels.path_for(MyLSTM(3, 4), torch.randn(2, 5, 3)) == "generic"


def test_fast_path_registered_from_outside_is_used_by_unroll():
    calls = []

    def run(cell, x, lengths, state, reverse):
        calls.append((tuple(x.shape), reverse))
        with kernels.only_generic():   # the "fast path" here is the generic loop itself, counted
            return rk.unroll(cell, x, lengths=lengths, initial_state=state, reverse=reverse)

    cell, x = _Tanh(), torch.randn(2, 5, 3)
    expected, _ = rk.unroll(cell, x, lengths=[5, 2], reverse=True)
    with kernels.registered("counted-tanh", (_Tanh,), lambda c, x: x.shape[1] > 1, run):
        assert kernels.path_for(cell, x) == "counted-tanh"
        y, _ = rk.unroll(cell, x, lengths=[5, 2], reverse=True)
    assert calls == [((2, 5, 3), True)] and torch.equal(y, expected)
    assert kernels.path_for(cell, x) == "generic"                     # unregistered on leaving the block
    # a later registration for a built-in type takes precedence over the built-in paths
    lstm = rk.LSTMCell(3, 4)
    with kernels.registered("mine", (rk.LSTMCell,), lambda c, x: True, run):
        assert kernels.path_for(lstm, x) == "mine"
    assert kernels.path_for(lstm, x) in ("torch", "native-lstm")


def test_switches_are_reentrant():
    cell, x = rk.GRUCell(3, 4), torch.randn(2, 5, 3)
    fast = kernels.path_for(cell, x)
    with kernels.only_generic():
        with kernels.only_generic():
            assert kernels.path_for(cell, x) == "generic"
        assert kernels.path_for(cell, x) == "generic"               # the inner block did not switch it back on
        with kernels.without_native():
            with kernels.without_native():
                pass
            assert not kernels.native.usable(x)
    assert kernels.path_for(cell, x) == fast


def test_register_checks_its_arguments():
    with pytest.raises(TypeError, match="types must be a class"):
        kernels.register("bad", "LSTMCell", lambda c, x: True, lambda *a: None)


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
