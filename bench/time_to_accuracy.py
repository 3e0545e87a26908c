"""Time to accuracy: fmnist's default recipe against a faithful reference of the tutorial
CNN (3 conv layers, Adam, batch 32, test data as validation, 2 epochs), back to back in one
process on the same machine.

    FMNIST_DATA_DIR=../shared/data/fashion-mnist python bench/time_to_accuracy.py

Reported: the reference's wall time and final test accuracy; the training time fmnist's
default recipe needs to reach that accuracy (test accuracy measured every 25 steps, the
measuring excluded from the clock), as a ratio to the reference's time; and the accuracy
each has at the reference's time.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from common import data_dir, write_result  # noqa: E402
from fmnist.cli import DEFAULT_MODEL  # noqa: E402
from fmnist.config import resolve_config  # noqa: E402
from fmnist.data import load_dataset  # noqa: E402
from fmnist.train import train  # noqa: E402


def reference(data) -> tuple[float, float]:
    """The tutorial CNN exactly as the tutorials train it; (seconds, test accuracy)."""
    from keras import layers

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x_train, x_test = data.train_images[..., None] / 255.0, data.test_images[..., None] / 255.0
    started = time.perf_counter()
    model.fit(
        x_train,
        data.train_labels,
        epochs=2,
        batch_size=32,
        validation_data=(x_test, data.test_labels),
        verbose=0,
    )
    seconds = time.perf_counter() - started
    return seconds, float(model.evaluate(x_test, data.test_labels, verbose=0)[1])


class TestAccuracyClock(keras.callbacks.Callback):
    """Training time (measuring excluded) and test accuracy every `every` steps."""

    def __init__(self, images, labels, every: int, target: float, limit_s: float):
        super().__init__()
        self.x, self.y = images[..., None].astype(np.float32), labels
        self.every, self.target, self.limit = every, target, limit_s
        self.trained, self.points, self.mark = 0.0, [], None

    def on_train_batch_begin(self, batch, logs=None):
        self.mark = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.trained += time.perf_counter() - self.mark
        if (batch + 1) % self.every:
            return
        accuracy = float(
            np.mean(self.model.predict(self.x, batch_size=1000, verbose=0).argmax(1) == self.y)
        )
        self.points.append((self.trained, accuracy))
        if accuracy >= self.target or self.trained > self.limit:
            self.model.stop_training = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument(
        "--epochs", type=int, help="Epoch budget of fmnist's schedule (default: the recipe's)."
    )
    parser.add_argument(
        "--every", type=int, default=25, help="Measure test accuracy every N steps (25)."
    )
    args = parser.parse_args()
    data = load_dataset("folder", data_dir())
    ref_seconds, ref_accuracy = reference(data)
    print(
        f"reference tutorial CNN, 2 epochs: {ref_seconds:.1f} s, test accuracy {ref_accuracy:.4f}"
    )
    clock = TestAccuracyClock(
        data.test_images, data.test_labels, args.every, ref_accuracy, 3 * ref_seconds
    )
    import tempfile

    with tempfile.TemporaryDirectory() as runs:
        config = resolve_config(
            model=args.model, epochs=args.epochs, runs_dir=runs, patience=0, gap_threshold=0.0
        )
        train(config, data, extra_callbacks=[clock])
    reached = next((t for t, a in clock.points if a >= ref_accuracy), None)
    at_equal = max((a for t, a in clock.points if t <= ref_seconds), default=None)
    result = {
        "reference": {"seconds": round(ref_seconds, 1), "test_accuracy": round(ref_accuracy, 4)},
        "fmnist_model": args.model,
        "fmnist_epochs": config.epochs,
        "fmnist_seconds_to_reference_accuracy": None if reached is None else round(reached, 1),
        "ratio": None if reached is None else round(reached / ref_seconds, 3),
        "fmnist_test_accuracy_at_reference_time": at_equal,
        "curve": [(round(t, 1), round(a, 4)) for t, a in clock.points],
    }
    if reached is None:
        print(f"{args.model} did not reach {ref_accuracy:.4f} within {3 * ref_seconds:.0f} s")
    else:
        print(
            f"{args.model} reached {ref_accuracy:.4f} after {reached:.1f} s of training: "
            f"{result['ratio']:.2f} x the reference's time"
        )
    print(
        f"at the reference's time ({ref_seconds:.1f} s): reference {ref_accuracy:.4f}, "
        f"{args.model} {at_equal}"
    )
    write_result("time_to_accuracy" + (f"_{args.epochs}ep" if args.epochs else ""), result)


if __name__ == "__main__":
    main()
