"""Every figure of fmnist: each a function that returns a matplotlib Figure.

Callers decide where a figure goes (`save_figure`); nothing here uses pyplot.

    >>> from fmnist.run_folder import Curves
    >>> curves = Curves(loss=[0.6, 0.4], accuracy=[0.8, 0.9], val_accuracy=[0.82, 0.88])
    >>> figure = training_curves(curves, "cnn", best_epoch=2)
    >>> len(figure.axes)
    2
    >>> save_figure(figure, run.curves_path)                        # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from fmnist.images import outlined
from fmnist.run_folder import Curves, atomic_path

TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#d62728"
RIGHT_COLOR, WRONG_COLOR = "#1f4e9c", "#b22222"  # blue: right, red: wrong
UNSURE_COLOR = "#b25e00"  # amber: "not sure", as the page and the report show it


def new_figure(rows: int = 1, columns: int = 1, figsize=(6.4, 4.8), layout=None, **subplots):
    """A Figure and its axes, as `plt.subplots` gives them, without pyplot: no global
    backend or figure registry, so nothing here depends on a display or leaks figures."""
    figure = Figure(figsize=figsize, layout=layout)
    return figure, figure.subplots(rows, columns, **subplots)


def save_figure(figure: Figure, path: Path | str, dpi: int = 110) -> Path:
    """Write `figure` as PNG atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        write_figure(figure, temporary, dpi)
    return path


def figure_png(figure: Figure, dpi: int = 110) -> bytes:
    """`figure` as PNG bytes, for a page that embeds it rather than links to a file."""
    import io

    buffer = io.BytesIO()
    write_figure(figure, buffer, dpi)
    return buffer.getvalue()


def write_figure(figure: Figure, path: Path | str, dpi: int = 110) -> None:
    """Write `figure` as PNG to `path` (or a binary stream) as it is (callers make it
    atomic)."""
    figure.savefig(path, dpi=dpi, bbox_inches="tight", format="png")


def training_curves(
    curves: Curves,
    title: str = "",
    best_epoch=None,
    label_smoothing=0.0,
    stacked: bool = False,
) -> Figure:
    """Accuracy, loss and (where recorded) the learning rate per epoch, training against
    validation, with the kept (best) epoch marked. With label smoothing, the loss panel
    shows plain cross-entropy (what the tables report) and the smoothed loss that training
    minimised, dotted and labelled as such. `stacked`: the panels in one column (a phone's
    screen) instead of one row."""
    has_rate = bool(curves.learning_rate)
    panels = 3 if has_rate else 2
    if stacked:
        figure, axes = new_figure(panels, 1, figsize=(5.5, 3.2 * panels))
    else:
        figure, axes = new_figure(1, panels, figsize=(15 if has_rate else 11, 4))
    epochs = range(1, curves.epochs + 1)
    plain = "crossentropy" if curves.crossentropy else "loss"
    loss_title = (
        "Cross-entropy"
        if plain == "crossentropy" or not label_smoothing
        else (f"Loss (label smoothing {label_smoothing})")
    )
    for axis, metric, label in ((axes[0], "accuracy", "Accuracy"), (axes[1], plain, loss_title)):
        axis.plot(epochs, getattr(curves, metric), "o-", color=TRAIN_COLOR, label="training")
        if getattr(curves, f"val_{metric}"):
            validation = getattr(curves, f"val_{metric}")
            axis.plot(epochs, validation, "s-", color=VAL_COLOR, label="validation")
        axis.set(title=label, xlabel="epoch", ylabel=label.split(" (")[0].lower())
    if plain == "crossentropy":
        axes[1].plot(
            epochs,
            curves.loss,
            ":",
            color=TRAIN_COLOR,
            alpha=0.6,
            label=f"training loss, labels smoothed by {label_smoothing}",
        )
    if has_rate:
        axes[2].plot(epochs, curves.learning_rate, "o-", color="#555555")
        axes[2].set(title="Learning rate (at each epoch's end)", xlabel="epoch", ylabel="rate")
    for axis in axes:
        if best_epoch:
            axis.axvline(best_epoch, color="#2a9d3f", linestyle="--", alpha=0.7, label="kept epoch")
        axis.grid(alpha=0.3)
    for axis in axes[:2]:
        axis.legend(fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def show_image(axis, image, title: str = "") -> None:
    """A 28 x 28 image as the data set is usually shown: dark article on white, no ticks."""
    axis.imshow(np.asarray(image).reshape(28, 28), cmap="gray_r", vmin=0, vmax=255)
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=9)


def confusion_matrix_figure(confusion: np.ndarray, class_names) -> Figure:
    """Row-normalised colours (recall per true class) with the counts written in."""
    normalized = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    n = len(class_names)
    figure, axis = new_figure(figsize=(9, 8))
    shown = axis.imshow(normalized, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(shown, ax=axis, fraction=0.046, label="share of the true class")
    axis.set_xticks(range(n), class_names, rotation=40, ha="right")
    axis.set_yticks(range(n), class_names)
    axis.set(xlabel="predicted class", ylabel="true class", title="Confusion matrix")
    for i in range(n):
        for j in range(n):
            color = "white" if normalized[i, j] > 0.5 else "black"
            axis.text(j, i, f"{confusion[i, j]}", ha="center", va="center", fontsize=8, color=color)
    figure.tight_layout()
    return figure


def image_grid(
    images, titles, colors=None, columns: int = 5, title: str = "", fontsize: float = 8
) -> Figure:
    """Images in rows of `columns`, each with its title (and title colour)."""
    rows = max(1, int(np.ceil(len(images) / columns)))
    figure, axes = new_figure(
        rows, columns, figsize=(2.0 * columns, 2.35 * rows), layout="constrained", squeeze=False
    )
    for k, axis in enumerate(axes.ravel()):
        if k >= len(images):
            axis.axis("off")
            continue
        show_image(axis, images[k])
        axis.set_title(titles[k], fontsize=fontsize, color=colors[k] if colors else "black")
    if title:
        figure.suptitle(title)
    return figure


def misclassified_gallery(
    images, labels, predicted, confidence, class_names, count: int = 24, columns: int = 6
) -> Figure:
    """The most confidently wrong predictions: true label, predicted label, confidence."""
    order = np.argsort(-np.asarray(confidence))[:count]
    titles = [
        f"true: {class_names[labels[k]]}\npredicted: {class_names[predicted[k]]}\n"
        f"confidence {confidence[k]:.0%}"
        for k in order
    ]
    return image_grid(
        [images[k] for k in order],
        titles,
        [WRONG_COLOR] * len(order),
        columns,
        f"Misclassified images, most confident first ({len(images)} in all)",
        7.5,
    )


def reliability_diagram(bins: list[dict], ece: float) -> Figure:
    """Accuracy against confidence per bin; the diagonal is perfect calibration."""
    figure, axis = new_figure(figsize=(6, 5.5))
    centers = [(b["low"] + b["high"]) / 2 for b in bins if b["count"]]
    width = bins[0]["high"] - bins[0]["low"]
    accuracy = [b["accuracy"] for b in bins if b["count"]]
    axis.bar(centers, accuracy, width=width * 0.95, color=TRAIN_COLOR, alpha=0.8, label="accuracy")
    axis.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    axis.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="confidence (top probability)",
        ylabel="accuracy",
        title=f"Reliability diagram (ECE {ece:.3f})",
    )
    axis.legend(loc="upper left")
    figure.tight_layout()
    return figure


def prediction_figure(image, title: str) -> Figure:
    """One image titled with its prediction."""
    figure, axis = new_figure(figsize=(3, 3.3))
    show_image(axis, image)
    axis.set_title(title, fontsize=10)
    figure.tight_layout()
    return figure


def image_with_probabilities(image, probabilities, class_names, true_label=None) -> Figure:
    """The image beside a bar chart of the class probabilities: the predicted bar red, the
    true bar blue (both blue when the prediction is right), as in the TensorFlow tutorial."""
    predicted = int(np.argmax(probabilities))
    figure, (left, right) = new_figure(
        1, 2, figsize=(9, 3.4), gridspec_kw={"width_ratios": [1, 1.8]}
    )
    show_image(left, image)
    verdict = "" if true_label is None else f" (true: {class_names[true_label]})"
    color = RIGHT_COLOR if true_label is None or predicted == true_label else WRONG_COLOR
    left.set_title(
        f"{class_names[predicted]} {probabilities[predicted]:.0%}{verdict}", fontsize=9, color=color
    )
    bars = right.bar(range(len(class_names)), probabilities, color="#999999")
    bars[predicted].set_color(WRONG_COLOR)
    if true_label is not None:
        bars[true_label].set_color(RIGHT_COLOR)
    right.set_xticks(range(len(class_names)), class_names, rotation=40, ha="right", fontsize=8)
    right.set(ylim=(0, 1), ylabel="probability")
    figure.tight_layout()
    return figure


def prediction_grid(
    images, predicted, true_labels, probabilities, class_names, columns: int = 5, unsure=None
) -> Figure:
    """Images labelled `predicted (true)`, blue when right and red when wrong; an answer the
    model would give as "not sure" (`unsure`) in amber, its class marked with a "?"."""
    unsure = unsure if unsure is not None else [False] * len(predicted)
    titles = [
        f"{'? ' if doubt else ''}{class_names[p]} {q:.0%}\n({class_names[t]})"
        for p, t, q, doubt in zip(predicted, true_labels, probabilities, unsure, strict=True)
    ]
    colors = [
        UNSURE_COLOR if doubt else RIGHT_COLOR if p == t else WRONG_COLOR
        for p, t, doubt in zip(predicted, true_labels, unsure, strict=True)
    ]
    return image_grid(images, titles, colors, columns)


def sweep_figure(rows: list[dict], spec) -> Figure:
    """Each trial's validation accuracy against each swept value: one panel per parameter,
    log scale for log-uniform ranges; trials ASHA stopped early in grey."""
    keys = list(spec.space)
    figure, axes = new_figure(1, len(keys), figsize=(4.5 * len(keys), 3.8), squeeze=False)
    for axis, key in zip(axes[0], keys, strict=True):
        values = [r["params"][key] for r in rows]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        labels = sorted({str(v) for v in values})
        xs = values if numeric else [labels.index(str(v)) for v in values]
        colors = ["#999999" if r["status"] == "stopped by ASHA" else TRAIN_COLOR for r in rows]
        axis.scatter(xs, [100 * r["val_accuracy"] for r in rows], c=colors, s=36)
        if not numeric:
            axis.set_xticks(range(len(labels)), labels)
        if spec.space[key].kind == "loguniform":
            axis.set_xscale("log")
        axis.set(xlabel=key, ylabel="validation accuracy (%)")
        axis.grid(alpha=0.3)
    figure.suptitle("Sweep: validation accuracy of each trial (grey: stopped early by ASHA)")
    figure.tight_layout()
    return figure


def explanation_figure(
    steps,
    probabilities,
    class_names,
    heat: np.ndarray,
    verdict: str,
    source: str = "",
    reading: str = "",
) -> Figure:
    """What the model saw and why: the photo with the garment found outlined, the article
    cut out, the 28 x 28 input, the evidence for the answer over it with its colour scale,
    the probability bars, and `reading` (where the evidence is, in words) beneath."""
    figure, axes = new_figure(
        1, 5, figsize=(14, 3.2), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.9]}
    )
    photo, crop, seen, why, bars = axes
    photo.imshow(outlined(steps.original, steps.mask))  # the page's outline too
    photo.set_title("photo" + (": garment found" if steps.mask is not None else ""), fontsize=9)
    crop.imshow(steps.crop)
    crop.set_title("article" if steps.mask is not None else steps.segmentation, fontsize=8)
    seen.imshow(steps.pixels, cmap="gray", vmin=0, vmax=255)  # as the model sees it
    seen.set_title("the 28 x 28 input", fontsize=9)
    why.imshow(steps.pixels, cmap="gray", vmin=0, vmax=255)
    shown = why.imshow(
        np.ma.masked_less_equal(heat, 0.02), cmap="inferno", alpha=0.75, vmin=0, vmax=1
    )
    scale = figure.colorbar(shown, ax=why, fraction=0.046, pad=0.04, ticks=[0, 0.5, 1])
    scale.ax.set_yticklabels(["none", "", "most"], fontsize=7)
    scale.set_label("evidence for the answer", fontsize=7)
    why.set_title("pixels that drove it", fontsize=9)
    for axis in axes[:4]:
        axis.set_xticks([])
        axis.set_yticks([])
    predicted = int(np.argmax(probabilities))
    drawn = bars.barh(range(len(class_names)), probabilities, color="#999999")
    drawn[predicted].set_color(RIGHT_COLOR)
    bars.set_yticks(range(len(class_names)), class_names, fontsize=8)
    bars.invert_yaxis()
    bars.set(xlim=(0, 1), xlabel="probability")
    bars.set_title(verdict, fontsize=10, color=WRONG_COLOR if "not sure" in verdict else "black")
    if source:
        figure.suptitle(source, fontsize=9, x=0.01, ha="left")
    figure.tight_layout()
    if reading:
        figure.text(0.5, -0.02, f"Why: {reading}.", ha="center", va="top", fontsize=10)
    return figure


def risk_coverage_figure(points: list, threshold_coverage: float | None = None) -> Figure:
    """Accuracy of the surest answers against the share of photos answered (risk-coverage),
    with where the model's own "not sure" threshold cuts."""
    figure, axis = new_figure(figsize=(4.8, 3.2), layout="constrained")
    coverage = [100 * c for c, _, _ in points]
    accuracy = [100 * a for _, a, _ in points]
    axis.plot(coverage, accuracy, marker="o", color=RIGHT_COLOR)
    if threshold_coverage is not None:
        axis.axvline(100 * threshold_coverage, color=UNSURE_COLOR, linestyle="--",
                     label="its \"not sure\" threshold")  # fmt: skip
        axis.legend(loc="lower left", fontsize=9)
    axis.invert_xaxis()
    axis.set_xlabel("in-class photos answered as sure (%)")
    axis.set_ylabel("of those, right (%)")
    axis.grid(alpha=0.3)
    return figure
