"""Seed ensembles: K models of one architecture whose output is their mean."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class Ensemble(nn.Module):
    """K models of one architecture from different initial weights; the output is their mean.

    Trained side by side, each member on its own loss (see the forecast task), so the members are the
    independently trained models of a seed ensemble and only their mean is read.

    >>> e = Ensemble([nn.Linear(2, 1), nn.Linear(2, 1)])
    >>> x = torch.ones(3, 2)
    >>> bool(torch.allclose(e(x)[0], (e.members[0](x) + e.members[1](x)) / 2))
    True
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: Tensor, *args, each: bool = False, **kwargs) -> tuple[Tensor, None]:
        """The members' mean output, or with ``each=True`` every member's output stacked (K, ...): what a loss
        reads to train each member on its own (called through the model, so DistributedDataParallel sees it)."""
        outs = [m(x, *args, **kwargs) for m in self.members]
        outs = torch.stack([o[0] if isinstance(o, tuple) else o for o in outs])
        return (outs if each else outs.mean(0)), None


def is_ensemble(model: nn.Module) -> bool:
    """True for an ``Ensemble``, alone or wrapped (DistributedDataParallel keeps it as ``.module``).

    >>> is_ensemble(Ensemble([nn.Linear(2, 1)])), is_ensemble(nn.Linear(2, 1))
    (True, False)
    """
    return isinstance(getattr(model, "module", model), Ensemble)
