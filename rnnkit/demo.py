"""``make demo`` until the training issue lands: an LSTM learns the embedded Reber grammar (seed 003).

Next-symbol prediction with one independent sigmoid per symbol, as seed 003 trains its Elman net.
A string counts as solved when every next-symbol set is predicted exactly (sigmoid > 0.5); the
long-range symbol is the second-to-last one, which must repeat the second.
"""
from __future__ import annotations

import time

import torch
from torch import nn

from .cells import LSTMCell
from .data import ReberGrammar, pad_sequences
from .runners import RNN


class ReberNet(nn.Module):
    """LSTM over one-hot symbols, then a linear map to 7 logits (seed 003's ``o_t = W_ho h_t + b_o``)."""

    def __init__(self, hidden_size: int = 32):
        super().__init__()
        self.rnn = RNN(LSTMCell(len(ReberGrammar.symbols), hidden_size))
        self.head = nn.Linear(hidden_size, len(ReberGrammar.symbols))

    def forward(self, x, lengths):
        return self.head(self.rnn(x, lengths)[0])                       # (B, T, 7) logits


def batch(grammar: ReberGrammar, strings: list[str]):
    xs, ys = zip(*(grammar.example(s) for s in strings))
    x, lengths = pad_sequences(xs)
    y, _ = pad_sequences(ys)
    mask = torch.arange(x.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    return x, y, lengths, mask


@torch.no_grad()
def evaluate(net: ReberNet, grammar: ReberGrammar, strings: list[str]) -> tuple[float, float]:
    """(share of strings with every prediction right, share with the long-range symbol right)."""
    x, y, lengths, mask = batch(grammar, strings)
    pred = net(x, lengths) > 0
    right = ((pred == (y > 0.5)).all(-1) | ~mask).all(-1)
    idx = (lengths - 2).clamp(min=0)
    long_range = (pred[torch.arange(len(strings)), idx] == (y[torch.arange(len(strings)), idx] > 0.5)).all(-1)
    return right.float().mean().item(), long_range.float().mean().item()


def run(seconds: float = 60.0, seed: int = 0, batch_size: int = 32) -> int:
    torch.manual_seed(seed)
    grammar = ReberGrammar(embedded=True, seed=seed)
    held_out = [grammar.sample() for _ in range(1000)]
    net = ReberNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    start, step, seen = time.perf_counter(), 0, 0
    print(f"training an LSTM(32) on the embedded Reber grammar for {seconds:.0f} s ...", flush=True)
    while time.perf_counter() - start < seconds:
        x, y, lengths, mask = batch(grammar, [grammar.sample() for _ in range(batch_size)])
        loss = (loss_fn(net(x, lengths), y).sum(-1) * mask).sum() / mask.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step, seen = step + 1, seen + batch_size
        if step % 100 == 0:
            solved, long_range = evaluate(net, grammar, held_out[:200])
            print(f"step {step:5d}  strings {seen:6d}  loss {loss.item():.4f}  solved {solved:.3f}  "
                  f"long-range {long_range:.3f}  {time.perf_counter() - start:5.1f}s", flush=True)
            if solved == 1.0 and evaluate(net, grammar, held_out)[0] == 1.0:
                break
    solved, long_range = evaluate(net, grammar, held_out)
    print(f"held-out 1000 embedded Reber strings: all next-symbol sets right {solved:.3f}, "
          f"long-range symbol right {long_range:.3f} (after {seen} training strings, "
          f"{time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
