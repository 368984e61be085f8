"""Attention maps as PNG: where a decoder looked while it wrote each output token.

Two pictures, both written atomically (a temporary file, then a rename):
- ``attention_figure``: for sequence-to-sequence runs, one heat map per example, output tokens
  down, source tokens across (Bahdanau et al. 2015's alignment figures);
- ``image_attention_figure``: for captioning runs, the image and, for each output word, the image
  with the attention over its feature grid laid over it (Xu et al. 2015's figures).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from torch import Tensor

from .checkpoint import atomic_write_bytes


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def attention_figure(panels: list[tuple[list[str], list[str], Tensor]], path: Path) -> Path:
    """One heat map per ``(source tokens, output tokens, weights (T_out, S))`` panel."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), squeeze=False)
    for ax, (source, output, weights) in zip(axes[0], panels):
        ax.imshow(weights.numpy() if len(output) else np.zeros((1, len(source))), cmap="Greys", vmin=0, vmax=1,
                  aspect="auto")
        ax.set_xticks(range(len(source)), source, fontsize=8, rotation=90)
        ax.set_yticks(range(len(output)), output, fontsize=8)
        ax.set_title(" ".join(output) or "(empty)", fontsize=8)
    return _save(fig, path)


def image_attention_figure(rows: list[tuple[np.ndarray, list[str], list[Tensor], tuple[int, int]]],
                           path: Path) -> Path:
    """One row per ``(image (H, W), words, weights (G,) per word, grid (rows, columns))``: the image, then
    for each word the weights over the grid, stretched to the image and laid over it."""
    plt = _pyplot()
    n = max(len(words) for _, words, _, _ in rows) + 1
    H, W = rows[0][0].shape
    fig, axes = plt.subplots(len(rows), n, figsize=(1.8 * n, (1.8 * H / max(W, 1) + 0.4) * len(rows)), squeeze=False)
    for ax_row, (image, words, weights, grid) in zip(axes, rows):
        extent = (-0.5, grid[1] * 4 - 0.5, grid[0] * 4 - 0.5, -0.5)     # a grid cell covers 4 x 4 pixels
        ax_row[0].imshow(image, cmap="gray")
        ax_row[0].set_title("image", fontsize=8)
        for ax, word, w in zip(ax_row[1:], words, weights):
            ax.imshow(image, cmap="gray")
            ax.imshow(w.reshape(grid).numpy(), cmap="inferno", alpha=0.6, interpolation="nearest", extent=extent)
            ax.set_xlim(-0.5, image.shape[1] - 0.5)
            ax.set_ylim(image.shape[0] - 0.5, -0.5)
            ax.set_title(word, fontsize=8)
        for ax in ax_row:
            ax.axis("off")
    return _save(fig, path)
