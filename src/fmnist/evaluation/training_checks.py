"""The diagnosis's questions about training: fit, capacity, learning rate, epochs, loss.

    >>> fit = check_fit(run.curves, run.metrics, config)                  # doctest: +SKIP
    >>> fit["kind"]  # overfitting | underfitting | still_rising | ok | unknown  # doctest: +SKIP

Each reads the run's typed records (its curves, metrics and TrainConfig) and returns a
finding (`fmnist.evaluation.findings`); every threshold is in RULES.
"""

from __future__ import annotations

import math

from fmnist.evaluation.findings import RULES, finding, pct
from fmnist.run_folder import Curves, Metrics
from fmnist.training.config import TrainConfig


def plain_cross_entropy(
    curves: Curves, label_smoothing: float, validation: bool
) -> list[float] | None:
    """Per-epoch cross-entropy against the true labels: the `crossentropy` metric a run with
    label smoothing records, or the loss itself where the loss had no smoothing; None for a
    label-smoothed run that did not record it (older runs)."""
    recorded = curves.val_crossentropy if validation else curves.crossentropy
    if recorded:
        return recorded
    if not label_smoothing:
        return (curves.val_loss if validation else curves.loss) or None
    return None


def check_fit(curves: Curves, metrics: Metrics, config: TrainConfig) -> dict:
    """Overfitting (validation loss rising while training loss falls, the gap stop, or a wide
    accuracy gap), underfitting (low training accuracy, or still rising at the end), or
    neither."""
    accuracy, val_accuracy = curves.accuracy, curves.val_accuracy
    if not accuracy:
        return finding("fit", "unknown", "No training history in this run folder.")
    found = overfitting(curves, metrics, config) or underfitting(curves, config)
    if found:
        return found
    evidence = f"training accuracy {pct(accuracy[-1])}"
    if val_accuracy:
        evidence += f", validation {pct(val_accuracy[-1])} at the last epoch"
    return finding("fit", "ok", "Neither: training and validation curves agree.", evidence)


def overfitting(curves: Curves, metrics: Metrics, config: TrainConfig) -> dict | None:
    """The gap stop ended it, validation loss rose while training loss fell, or training
    accuracy ended well above validation accuracy; None when none of these."""
    accuracy, val_accuracy = curves.accuracy, curves.val_accuracy
    more = "More regularisation (augmentation, dropout) or a smaller model."
    if metrics.stopped_by == "overfitting_gap":
        gap = accuracy[-1] - val_accuracy[-1]
        return finding(
            "fit",
            "attention",
            f"Overfitting: the gap stop ended training at epoch {len(accuracy)}.",
            f"training accuracy {pct(accuracy[-1])} against validation {pct(val_accuracy[-1])}"
            f" ({100 * gap:.1f} points apart)",
            more,
            kind="overfitting",
        )
    smoothing = config.label_smoothing
    val_loss = plain_cross_entropy(curves, smoothing, validation=True) or curves.val_loss
    train_loss = plain_cross_entropy(curves, smoothing, validation=False) or curves.loss
    if val_loss:
        best = min(range(len(val_loss)), key=val_loss.__getitem__)
        rising = len(val_loss) - 1 - best
        grew = val_loss[-1] / val_loss[best] - 1 if val_loss[best] > 0 else 0.0
        fell = train_loss[-1] < train_loss[best]
        if rising >= RULES["rising_epochs"] and grew > RULES["rising_margin"] and fell:
            return finding(
                "fit",
                "attention",
                f"Overfitting from epoch {best + 2}: validation loss rose for {rising} epochs "
                "while training loss kept falling.",
                f"validation loss {val_loss[best]:.4f} at epoch {best + 1}, {val_loss[-1]:.4f} "
                f"at epoch {len(val_loss)} (+{100 * grew:.0f}%); training loss "
                f"{train_loss[best]:.4f} to {train_loss[-1]:.4f}",
                f"Stop near epoch {best + 1} (early stopping or the gap stop), or regularise "
                "(augmentation, dropout).",
                kind="overfitting",
            )
    if val_accuracy and accuracy[-1] - val_accuracy[-1] > RULES["gap"]:
        return finding(
            "fit",
            "attention",
            "Overfitting: training accuracy is well above validation accuracy.",
            f"training {pct(accuracy[-1])}, validation {pct(val_accuracy[-1])} at the last epoch",
            more,
            kind="overfitting",
        )
    return None


def underfitting(curves: Curves, config: TrainConfig) -> dict | None:
    """Training accuracy still low, or both curves still rising at the end; None else."""
    accuracy, val_accuracy = curves.accuracy, curves.val_accuracy
    if accuracy[-1] < RULES["train_accuracy"]:
        return finding(
            "fit",
            "attention",
            "Underfitting: the model does not yet fit even its training data.",
            f"training accuracy {pct(accuracy[-1])} at epoch {len(accuracy)}",
            "Train longer, or use a larger model (fmnist models lists them).",
            kind="underfitting",
        )
    if still_rising(curves, config):
        return finding(
            "fit",
            "attention",
            "Underfitting: both curves were still rising at the last epoch.",
            f"validation accuracy {pct(val_accuracy[-3])} -> {pct(val_accuracy[-1])} over the "
            "last two epochs",
            "Train longer.",
            kind="still_rising",
        )
    return None


def judged_by_intent(fit: dict, config: TrainConfig) -> dict:
    """A recipe built for time (`BUILT_FOR_TIME`), trained for its own epochs, under-fits by
    design: its fit finding says so instead of asking for more epochs or a larger model."""
    from fmnist.training.models import BUILT_FOR_TIME, get_spec

    model = config.model
    if fit["kind"] not in ("underfitting", "still_rising") or model not in BUILT_FOR_TIME:
        return fit
    if config.epochs != get_spec(model).recipe.get("epochs"):
        return fit
    return finding(
        "fit",
        "ok",
        f"As designed: {model} is built for time ({BUILT_FOR_TIME[model]}), so it stops "
        "while it could still learn.",
        fit["evidence"],
        "For more accuracy, the default recipe: fmnist train (93% in 7 epochs).",
        kind="by_design",
    )


def still_rising(curves: Curves, config: TrainConfig) -> bool:
    """Both accuracies still climbing over the last two epochs under a constant rate (under
    a decaying schedule the last epochs' gain comes from the annealing itself)."""
    accuracy, val_accuracy = curves.accuracy, curves.val_accuracy
    if config.schedule != "constant" or len(val_accuracy) < 3:
        return False
    step = RULES["still_rising"]
    return val_accuracy[-1] - val_accuracy[-3] > step and accuracy[-1] - accuracy[-3] > step


def check_capacity(fit: dict, metrics: Metrics) -> dict:
    params = metrics.params
    size = f"{params:,} parameters" if params else "parameter count not recorded"
    if fit["verdict"] == "unknown":
        return finding("capacity", "unknown", "Unknown without a training history.", size)
    if fit["kind"] == "overfitting":
        return finding(
            "capacity",
            "attention",
            "Complex for the data as it was trained: it memorises training images.",
            size,
            "Regularise before making it larger.",
        )
    if fit["kind"] == "underfitting":
        return finding(
            "capacity",
            "attention",
            "Possibly too simple, or trained too briefly.",
            size,
            "Train longer first; if training accuracy stays low, choose a larger model.",
        )
    return finding("capacity", "ok", "About right for this recipe: no sign of either.", size)


def check_learning_rate(curves: Curves, config: TrainConfig, state=None) -> dict:
    loss = curves.loss
    rate = f"peak rate {config.learning_rate}, schedule {config.schedule}"
    if state is not None and state.status == "diverged":
        return finding(
            "learning_rate",
            "attention",
            "Diverged: the training loss became NaN or infinite, and training stopped there.",
            f"{state.error}; {len(loss)} good epochs kept",
            "Lower the learning rate (by 3 to 10 times) or add warm-up.",
            kind="diverged",
        )
    if len(loss) < 2:
        return finding("learning_rate", "unknown", "One epoch or none: too short to judge.", rate)
    if not all(math.isfinite(v) for v in loss) or (len(loss) > 1 and loss[-1] > loss[0]):
        return finding(
            "learning_rate",
            "attention",
            "Diverging: training loss ended above where it started (or became NaN).",
            f"training loss {loss[0]:.4f} at epoch 1, {loss[-1]:.4f} at epoch {len(loss)}; {rate}",
            "Lower the learning rate (by 3 to 10 times) or add warm-up.",
        )
    spikes = [e + 1 for e in range(1, len(loss)) if loss[e] > RULES["spike"] * loss[e - 1]]
    if spikes:
        return finding(
            "learning_rate",
            "attention",
            f"Unstable: training loss jumped at epoch {', '.join(map(str, spikes))}.",
            rate,
            "Lower the learning rate, or use a decaying schedule (cosine).",
        )
    return finding(
        "learning_rate",
        "ok",
        "Stable: training loss fell without spikes.",
        f"training loss {loss[0]:.4f} to {loss[-1]:.4f}; {rate}",
    )


def check_epochs(curves: Curves, metrics: Metrics, config: TrainConfig, fit: dict) -> dict:
    epochs = curves.epochs
    best = metrics.best_epoch or epochs
    batch = f"batch size {config.batch_size}"
    speed = metrics.train_images_per_s
    if speed:
        batch += f", {speed:,.0f} training images/s"
    if not epochs:
        return finding("epochs", "unknown", "No training history.", batch)
    wasted = epochs - best
    if wasted >= max(RULES["wasted_minimum"], RULES["wasted_fraction"] * epochs):
        return finding(
            "epochs",
            "attention",
            f"Too many epochs: the best was epoch {best} of {epochs}; the last {wasted} "
            "added nothing.",
            f"{100 * wasted / epochs:.0f}% of the training time after the best epoch; {batch}",
            f"Train about {best + 1} epochs, or use early stopping (patience).",
        )
    if fit["kind"] in ("underfitting", "still_rising"):
        return finding(
            "epochs",
            "attention",
            "Too few: it was still improving when training ended.",
            f"best epoch {best} of {epochs}; {batch}",
            "Train more epochs.",
        )
    return finding("epochs", "ok", f"Fine: the best epoch was {best} of {epochs}.", batch)
