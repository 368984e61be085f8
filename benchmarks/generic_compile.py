"""Does torch.compile of a user-written cell's step help the generic path? (issue 3, build 3)

    python benchmarks/generic_compile.py
"""
import time, statistics, torch, warnings
import rnnkit as rk
from torch import nn
warnings.simplefilter("ignore")

class MinimalGated(nn.Module):          # a user cell: h = z*h + (1-z)*tanh(x W + h U)
    def __init__(self, D, H):
        super().__init__()
        self.input_size, self.output_size, self.hidden_size = D, H, H
        self.W = nn.Linear(D, 2 * H); self.U = nn.Linear(H, 2 * H, bias=False)
    def initial_state(self, B, device=None, dtype=None):
        return torch.zeros(B, self.hidden_size, device=device, dtype=dtype)
    def forward(self, x, h):
        a, z = (self.W(x) + self.U(h)).chunk(2, -1)
        z = torch.sigmoid(z)
        h = z * h + (1 - z) * torch.tanh(a)
        return h, h

B, T, D, H = 32, 128, 128, 256
torch.manual_seed(0)
x = torch.randn(B, T, D)
eager = MinimalGated(D, H)
compiled = MinimalGated(D, H); compiled.load_state_dict(eager.state_dict())
compiled.forward = torch.compile(compiled.forward, dynamic=False)
def run(cell):
    y, _ = rk.unroll(cell, x); y.sum().backward()
t = time.perf_counter(); run(compiled); print(f"first compiled call (compiles): {time.perf_counter()-t:.1f} s")
ts = {"eager": [], "compiled": []}
for _ in range(7):
    for k, c in (("eager", eager), ("compiled", compiled)):
        t = time.perf_counter(); run(c); ts[k].append(time.perf_counter() - t)
print({k: round(statistics.median(v) * 1e3, 1) for k, v in ts.items()}, "ms fwd+bwd, median of 7")
