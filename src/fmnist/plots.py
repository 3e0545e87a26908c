"""Every figure of fmnist: each a function that returns a matplotlib Figure.

Callers decide where a figure goes (`save_figure`); nothing here calls plt.show().

    >>> fig = training_curves({"accuracy": [...], "val_accuracy": [...], "loss": [...], ...})
    >>> save_figure(fig, "runs/x/plots/training_curves.png")
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, none assumed

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#d62728"


def save_figure(figure: Figure, path: Path | str, dpi: int = 110) -> Path:
    """Write `figure` as PNG atomically and release its memory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    figure.savefig(temporary, dpi=dpi, bbox_inches="tight")
    os.replace(temporary, path)
    plt.close(figure)
    return path


def training_curves(history: dict[str, list[float]], title: str = "") -> Figure:
    """Accuracy and loss per epoch, training against validation, side by side."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    epochs = range(1, len(history.get("loss", [])) + 1)
    for axis, metric, label in ((axes[0], "accuracy", "Accuracy"), (axes[1], "loss", "Loss")):
        axis.plot(epochs, history.get(metric, []), "o-", color=TRAIN_COLOR, label="training")
        if history.get(f"val_{metric}"):
            axis.plot(epochs, history[f"val_{metric}"], "s-", color=VAL_COLOR, label="validation")
        axis.set(title=label, xlabel="epoch", ylabel=label.lower())
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure
