"""A text classifier (or regressor) started from a character language model: ULMFiT's transfer (Howard & Ruder 2018,
"Universal Language Model Fine-tuning for Text Classification"): the language model's embedding and recurrent layers
are copied in, and fine-tuning trains each layer below the head at a lower rate (discriminative learning rates),
optionally joining one layer at a time from the top (gradual unfreezing).
"""
from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from ..data.vocab import PAD, UNK
from ..errors import UserError
from ..models import RecurrentConfig
from ..runtime.checkpoint import read_config

# the classifier's own regularisers, kept when the language model's recurrent configuration is taken
REGULARISERS = ("dropout", "input_dropout", "output_dropout", "state_dropout", "variational", "zoneout",
                "embed_dropout")


def language_model(cfg, model_cfg: RecurrentConfig):
    """The task config, recurrent config and vocabulary of a model started from the charlm run ``cfg.init_from``:
    its cell and sizes, its embedding size and its symbols (then <pad> and <unk>); the classifier's own
    regularisers are kept."""
    run = Path(cfg.init_from).expanduser()
    config = read_config(run)
    if config.get("task") != "charlm" or not (run / "model.safetensors").exists():
        raise UserError(f"expected --init-from a finished charlm run folder (config.json and model.safetensors); "
                        f"{run} is {'a ' + str(config.get('task')) + ' run' if config.get('task') != 'charlm' else 'not finished'}")
    if config["meta"].get("level") != "char" or cfg.tokens != "char":
        raise UserError(f"expected --init-from a character-level charlm run and --tokens char; received a "
                        f"{config['meta'].get('level')}-level run and --tokens {cfg.tokens}")
    if model_cfg.bidirectional:
        raise UserError("expected a left-to-right classifier with --init-from (the language model reads one way); "
                        "received --bidirectional")
    lm = RecurrentConfig(**config["model"])
    kept = {f.name: getattr(model_cfg, f.name) for f in fields(RecurrentConfig) if f.name in REGULARISERS}
    symbols = list(config["meta"]["vocab"])
    vocab = symbols + [s for s in (PAD, UNK) if s not in symbols]
    return (replace(cfg, init_from=str(run), embed_size=config["task_config"]["embed_size"]),
            replace(lm, **kept), vocab)


def copy_language_model_(model: nn.Module, run: str) -> None:
    """The language model's recurrent layers and embedding rows copied into ``model`` (a new run)."""
    lm = load_file(str(Path(run) / "model.safetensors"))
    own = model.state_dict()
    with torch.no_grad():
        for name, tensor in lm.items():
            if name.startswith("runner."):
                own[name].copy_(tensor)
        rows = lm["embedding.weight"]
        own["embedding.weight"][: rows.shape[0]].copy_(rows)


def fine_tuning_groups(model: nn.Module, lr_decay: float, unfreeze_every: int) -> list[dict]:
    """ULMFiT's fine-tuning: from the head down (head, top recurrent layer, ..., embedding), group k trains at
    ``lr / lr_decay**k`` from step ``k * unfreeze_every``."""
    layers = list(model.runner.layers)
    stack = [[p for n, p in model.named_parameters() if not n.startswith(("runner.", "embedding."))]]
    stack += [list(layer.parameters()) for layer in reversed(layers)] + [list(model.embedding.parameters())]
    return [{"params": params, "lr_factor": lr_decay ** -k, "start_step": k * unfreeze_every}
            for k, params in enumerate(stack)]
