"""Figures of a run as PNG: where a decoder looked while it wrote each output token, and what a classifier
confuses.

Three pictures, each written atomically (a temporary file, then a rename):
- ``attention_figure``: for sequence-to-sequence runs, one heat map per example, output tokens
  down, source tokens across (Bahdanau et al. 2015's alignment figures);
- ``image_attention_figure``: for captioning runs, the image and, for each output word, the image
  with the attention over its feature grid laid over it (Xu et al. 2015's figures);
- ``confusion_figure``: for classification runs, the confusion matrix with each row's shares as colours
  (the PyTorch names tutorial's figure).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from torch import Tensor

from ..runtime.checkpoint import atomic_write_bytes


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


ANNOTATED_CLASSES = 20         # up to this many classes each cell shows its count


def confusion_figure(confusion: Tensor, labels: list[str], path: Path) -> Path:
    """The confusion matrix (C, C) of counts, rows the true class and columns the predicted one, as a heat map
    whose colours are each row's shares (so a class of 20 examples reads as plainly as one of 2,000); up to
    ``ANNOTATED_CLASSES`` classes each non-zero cell shows its count. The figure grows with C (its labels shrink
    only past 56 classes), so 50 classes stay readable. The title gives the accuracy and the number of examples."""
    counts = np.asarray(confusion.detach().cpu().double() if isinstance(confusion, Tensor) else confusion, float)
    C = len(labels)
    if not C or counts.shape != (C, C):
        raise ValueError(f"expected a ({C}, {C}) confusion matrix for {C} labels; received shape {counts.shape}")
    totals = counts.sum(1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    plt = _pyplot()
    side = min(2.0 + 0.32 * C, 20.0)                         # inches: 0.32 a class up to 56 classes
    font = min(9.0, 0.8 * 72 * (side - 2.0) / C)              # points: a label fits its row
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(C), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(C), labels, fontsize=font)
    ax.set_xlabel("predicted", fontsize=font + 1)
    ax.set_ylabel("true", fontsize=font + 1)
    if C <= ANNOTATED_CLASSES:
        for i, j in zip(*np.nonzero(counts)):
            ax.text(j, i, f"{counts[i, j]:.0f}", ha="center", va="center", fontsize=max(6.0, min(9.0, 130 / C)),
                    color="white" if shares[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04).set_label("share of the true class", fontsize=font)
    total = counts.sum()
    ax.set_title(f"accuracy {np.trace(counts) / max(total, 1):.3f} on {total:,.0f} examples", fontsize=font + 1)
    return _save(fig, path)
