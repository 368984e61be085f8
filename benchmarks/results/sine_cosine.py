"""The Theano notebook's scan exercise: a 2-4-2 Elman network (tanh hidden layer, linear output, learned h0,
every matrix from the notebook's SVD-rescaled uniform draw, zero biases) learns to output the previous point
of a sine/cosine curve; plain gradient descent at 0.1 on the mean squared error of both sequences, 10,000
steps. The notebook ends at a training cost of 0.00013; this script reports ours and draws the predictions.

Built from the library alone (rnnkit.ElmanCell with an output map, LearnedInitialState, RNN, svd_rescaled_), as the companion
page shows it:

    python benchmarks/results/sine_cosine.py --seeds 3
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import HERE, parser, write  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit.cells import svd_rescaled_  # noqa: E402

NOTEBOOK_COST = 0.00013053907605353743     # the notebook's training cost after 10,000 steps ("Out:" of its cell)


def curves() -> tuple[torch.Tensor, torch.Tensor]:
    """The notebook's data: (sin x, cos x) for x = 0, 0.2, ... < 2 pi, and the same rolled by one step; the
    targets are each sequence rolled by one more step (the previous point). Inputs and targets (2, 32, 2)."""
    x = torch.arange(0.0, 2 * math.pi, 0.2).unsqueeze(1)                  # (32, 1)
    s = torch.cat([x.sin(), x.cos()], dim=1)                              # (32, 2)
    S = torch.stack([s, s.roll(1, dims=0)])                               # (2, 32, 2)
    return S, S.roll(1, dims=1)


class Net(nn.Module):
    """The notebook's ``one_step``: h_t = tanh(x_t W_ih + h_(t-1) W_hh + b_h), y_t = h_t W_ho + b_o (an Elman cell
    with a linear output map); h_0 learned."""

    def __init__(self, hidden: int = 4):
        super().__init__()
        cell = svd_rescaled_(rnnkit.ElmanCell(2, hidden, output_size=2))      # W_ih, W_hh, W_ho rescaled, biases 0
        self.rnn = rnnkit.RNN(rnnkit.LearnedInitialState(cell))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


def train(seed: int, steps: int, lr: float = 0.1) -> tuple[float, Net, list[float]]:
    torch.manual_seed(seed)
    S, target = curves()
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    costs = []
    for _ in range(steps):
        cost = ((net(S) - target) ** 2).mean()
        opt.zero_grad()
        cost.backward()
        opt.step()
        costs.append(cost.item())
    with torch.no_grad():
        final = ((net(S) - target) ** 2).mean().item()
    return final, net, costs


def figure(net: Net, path: Path) -> Path:
    from rnnkit.tools.figures import _pyplot, _save
    plt = _pyplot()
    S, target = curves()
    with torch.no_grad():
        pred = net(S)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for k, ax in enumerate(axes):
        for d, name in enumerate(("sin", "cos")):
            ax.plot(target[k, :, d], "o", ms=3, label=f"target {name} (previous point)")
            ax.plot(pred[k, :, d], "-", label=f"prediction {name}")
        ax.set_title(f"sequence {k + 1}")
        ax.set_xlabel("step")
    axes[0].legend(fontsize=7)
    return _save(fig, path)


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=10_000)
    args = p.parse_args()
    if args.smoke:
        args.seeds, args.steps = 1, 50
    torch.set_num_threads(1)
    started, finals, best = time.perf_counter(), [], None
    for seed in range(args.seeds):
        final, net, costs = train(seed, args.steps)
        finals.append(final)
        print(f"seed {seed}: training cost {final:.6f} after {args.steps} steps (first step {costs[0]:.4f})", flush=True)
        if best is None or final < best[0]:
            best = (final, net)
    drawn = None if args.smoke else str(figure(best[1], HERE / "sine_cosine.png"))
    median = sorted(finals)[len(finals) // 2]
    result = {"steps": args.steps, "lr": 0.1, "costs": finals, "notebook_cost": NOTEBOOK_COST, "figure": drawn,
              "summary": {"median_cost": median, "seeds": args.seeds, "notebook_cost": NOTEBOOK_COST}}
    print(f"training cost: median {median:.2e} over {args.seeds} seeds, each {', '.join(f'{c:.2e}' for c in finals)} "
          f"(the notebook: {NOTEBOOK_COST:.2e})")
    write("sine_cosine", args, result, started)


if __name__ == "__main__":
    main()
