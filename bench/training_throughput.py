"""Training throughput: fmnist's loop against plain `model.fit`, one epoch each, same machine.

    FMNIST_DATA_DIR=../shared/data/fashion-mnist python bench/training_throughput.py
    python bench/training_throughput.py --models cnn fast_cnn --precision bfloat16

For each model: images/s of plain `model.fit` on float32 arrays as the tutorials call it
(Adam, the model's batch size, no augmentation, no callbacks), and of `fmnist.training.train.train`
with the model's recipe (augmentation, checkpoints, validation, the run folder), counted
two ways: the training steps alone, and the whole epoch with validation and checkpoints.
The first epoch of each includes tracing the training step, for both alike.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from common import data_dir, write_result  # noqa: E402
from fmnist.data.dataset import load_dataset  # noqa: E402
from fmnist.machine import flags_line  # noqa: E402
from fmnist.training.config import PRECISIONS, resolve_config  # noqa: E402
from fmnist.training.models import DEFAULT_MODEL, create_model  # noqa: E402
from fmnist.training.precision import compute_precision, dtype_policy  # noqa: E402
from fmnist.training.train import train  # noqa: E402


class StepClock(keras.callbacks.Callback):
    """Seconds spent inside training steps (batch begin to batch end) and whole epochs."""

    def __init__(self):
        super().__init__()
        self.steps = self.epochs = 0.0
        self.mark = self.epoch_mark = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_mark = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += time.perf_counter() - self.epoch_mark

    def on_train_batch_begin(self, batch, logs=None):
        self.mark = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += time.perf_counter() - self.mark


def plain_fit(name: str, images, labels, batch_size: int, precision: str) -> float:
    """Images/s of one epoch of `model.fit` on arrays, the tutorials' way."""
    keras.utils.set_random_seed(0)
    with dtype_policy(precision):
        model = create_model(name)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = images[..., None].astype(np.float32)
    started = time.perf_counter()
    model.fit(x, labels, batch_size=batch_size, epochs=1, verbose=0)
    return len(x) / (time.perf_counter() - started)


def fmnist_loop(name: str, data, precision: str) -> dict:
    """Images/s of one epoch of fmnist's loop, steps alone and the whole epoch."""
    clock = StepClock()
    with tempfile.TemporaryDirectory() as runs:
        config = resolve_config(model=name, epochs=1, runs_dir=runs, precision=precision)
        train(config, data, extra_callbacks=[clock])
    images = round(len(data.train_labels) * (1 - config.val_fraction))
    return {"steps": images / clock.steps, "epoch": images / clock.epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cnn", DEFAULT_MODEL])
    parser.add_argument("--precision", choices=PRECISIONS, default="float32")
    args = parser.parse_args()
    print(flags_line(), flush=True)
    data = load_dataset("folder", data_dir())
    n = round(len(data.train_labels) * 0.9)  # the images one fmnist epoch trains on
    configs = {name: resolve_config(model=name, precision=args.precision) for name in args.models}
    images, labels = data.train_images[:n], data.train_labels[:n]
    # plain model.fit first: fmnist's loop turns on TensorFlow's deterministic kernels for
    # the whole process (public TensorFlow cannot turn them off again), which the tutorials
    # do not; the last row repeats the first plain fit with them on, to show their cost
    plain = {
        name: plain_fit(name, images, labels, c.batch_size, compute_precision(c))
        for name, c in configs.items()
    }
    rows = []
    for name, config in configs.items():
        loop = fmnist_loop(name, data, compute_precision(config))
        rows.append(
            {
                "model": name,
                "batch_size": config.batch_size,
                "precision": compute_precision(config),
                "plain_fit_images_per_s": round(plain[name]),
                "fmnist_steps_images_per_s": round(loop["steps"]),
                "fmnist_epoch_images_per_s": round(loop["epoch"]),
            }
        )
        print(
            f"{name:<10} batch {config.batch_size:<4} {compute_precision(config)}: plain "
            f"model.fit {plain[name]:,.0f} images/s; fmnist steps {loop['steps']:,.0f}, "
            f"whole epoch {loop['epoch']:,.0f} images/s",
            flush=True,
        )
    first, config = next(iter(configs.items()))
    deterministic = plain_fit(first, images, labels, config.batch_size, compute_precision(config))
    print(f"{first}: plain model.fit with deterministic kernels {deterministic:,.0f} images/s")
    rows[0]["plain_fit_deterministic_images_per_s"] = round(deterministic)
    write_result("training_throughput", {"rows": rows})


if __name__ == "__main__":
    main()
