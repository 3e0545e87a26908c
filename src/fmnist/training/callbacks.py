"""The Keras callbacks of a training run: stops, checkpoints, progress, resume state.

Every piece of state a resumed run needs is either in the run folder or can be
recomputed from its history, so a run killed at any moment resumes from its last
finished epoch.
"""

from __future__ import annotations

import math
import time

import keras

from fmnist.artifacts import save_model
from fmnist.run_folder import RunFolder, RunState


def gap_exceeded(logs: dict, threshold: float) -> bool:
    """The overfitting-gap condition: validation accuracy trails training accuracy by more
    than `threshold` (a fraction: 0.01 is one percentage point). Off when threshold <= 0."""
    if threshold <= 0 or "val_accuracy" not in logs or "accuracy" not in logs:
        return False
    return logs["accuracy"] - logs["val_accuracy"] > threshold


class GapStop(keras.callbacks.Callback):
    """End training once the model fits its training data clearly better than unseen data."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if gap_exceeded(logs or {}, self.threshold):
            self.stopped_epoch = epoch
            self.model.stop_training = True


class DivergenceStop(keras.callbacks.Callback):
    """Stop at the first step whose training loss is NaN or infinite: the run diverged, and
    every step after it would only train NaN weights. `diverged` says where, in words."""

    def __init__(self):
        super().__init__()
        self.diverged: str | None = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.diverged is None:
            where = f"epoch {self.epoch + 1}, step {batch + 1}"
            self.diverged = f"training loss became {float(loss)} at {where}"
            self.model.stop_training = True


def finite_epoch(logs: dict) -> bool:
    """Whether an epoch's losses are all numbers (not NaN or infinite)."""
    return all(math.isfinite(float(v)) for k, v in logs.items() if k.endswith("loss"))


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' EarlyStopping on val_accuracy, its counters seeded from an earlier history."""

    def __init__(self, patience: int, history: dict[str, list[float]]):
        super().__init__(
            monitor="val_accuracy", mode="max", patience=patience, restore_best_weights=True
        )
        self.history = history

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        past = self.history.get("val_accuracy", [])
        if past:
            self.best_epoch = max(range(len(past)), key=past.__getitem__)
            self.best = past[self.best_epoch]
            self.wait = len(past) - 1 - self.best_epoch


class RunRecorder(keras.callbacks.Callback):
    """At each epoch's end: the best model, the resume checkpoint, history and state.

    Order matters for a kill at any instant: the new checkpoint file is written first,
    then the history, then the state (which names the checkpoint and the epoch count),
    and only then is the previous checkpoint deleted.
    """

    def __init__(self, run: RunFolder, history: dict, state: RunState, class_names, monitor: bool):
        super().__init__()
        self.run, self.history, self.state = run, history, state
        self.class_names, self.monitor = class_names, monitor
        self.epoch_started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if not finite_epoch(logs):  # a diverged epoch: its weights are NaN, keep the last good
            return
        logs["learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        earlier = self.history.get("val_accuracy", [])[:-1]
        if not self.monitor or not earlier or logs["val_accuracy"] > max(earlier):
            save_model(self.model, self.run.model_path, self.class_names)
        checkpoint = self.run.checkpoint_path(epoch + 1)
        save_model(self.model, checkpoint, self.class_names)
        self.run.write_history(self.history)
        previous = self.state.checkpoint
        self.state.epochs_done = epoch + 1
        self.state.checkpoint = str(checkpoint.relative_to(self.run.path))
        self.state.train_seconds += time.perf_counter() - self.epoch_started
        self.run.write_state(self.state)
        if previous and previous != self.state.checkpoint:
            (self.run.path / previous).unlink(missing_ok=True)


class EpochSync(keras.callbacks.Callback):
    """Tell the batch source which epoch starts, so shuffling and augmentation depend on
    (seed, epoch) alone and a resumed run draws what the uninterrupted run would have."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)


class StepLimit(keras.callbacks.Callback):
    """End training after `steps` optimizer steps in all: a fractional last epoch stops
    part-way (Keras then validates and checkpoints it as any epoch). The count is the
    optimizer's own, so a resumed run stops at the same step."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps = steps

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations) >= self.steps:
            self.model.stop_training = True


class EpochLine(keras.callbacks.Callback):
    """One concise line per epoch, for logs that are not a terminal (CI)."""

    def __init__(self, epochs: int, echo=print):
        super().__init__()
        self.epochs, self.echo, self.started = epochs, echo, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"epoch {epoch + 1}/{self.epochs}"]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if key in logs:
                parts.append(f"{key} {logs[key]:.4f}")
        parts.append(f"{time.perf_counter() - self.started:.1f}s")
        self.echo("  ".join(parts), flush=True)
