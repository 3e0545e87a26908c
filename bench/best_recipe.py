"""What each ingredient of the best recipe buys: airbench's ablation table, on Fashion-MNIST,
on this machine's CPU.

    FMNIST_DATA_DIR=../shared/data/fashion-mnist python bench/best_recipe.py            # screen
    python bench/best_recipe.py --train-images 60000 --epochs 0 --only recipe --seeds 0 1 2 \
        --curve-every 4                     # the recipe in full, test accuracy along the way

The recipe (`best_cnn`, `fmnist train --model best_cnn`) is trained once as it is and once
per variant, each changing one ingredient (removing it, or trying the alternative), all else
equal. Each row: epochs, seconds of training (inside the epochs, the precision asked for),
validation accuracy (the epoch kept: the best on validation, a rule fixed before any test
image is seen), test accuracy with the recipe's test-time augmentation (each answer averaged
over the image, its four one-pixel shifts and their mirror images) and without, and the
change against the recipe. Two rows change only how answers are made (flip TTA only, no
TTA), so they reuse the recipe's models. Screening defaults: 30,000
training images and 8 epochs (a few minutes a row on 2 cores); `--train-images 60000
--epochs 0` trains the full recipe (its own epochs). With several seeds each row is the mean
and the standard deviation. Writes bench/results/best_recipe.json after every row, so a
stopped run keeps what it measured.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from common import data_dir, write_result  # noqa: E402
from fmnist.artifacts import load_model  # noqa: E402
from fmnist.data.dataset import load_dataset  # noqa: E402
from fmnist.inference.answers import answer_probabilities, forward_function  # noqa: E402
from fmnist.machine import flags_line  # noqa: E402
from fmnist.run_folder import RunFolder  # noqa: E402
from fmnist.training.config import PRECISIONS, resolve_config  # noqa: E402
from fmnist.training.train import train  # noqa: E402

RECIPE = "best_cnn"

# name: (what it changes, TrainConfig fields, model_args); each row changes one ingredient
VARIANTS = {
    "recipe": ("the recipe as registered", {}, {}),
    "no whitening": ("a learned 3x3 stem, not the fixed whitening", {}, {"whiten": False}),
    "no dirac": ("He-normal convolutions, no identity start", {}, {"dirac": False}),
    "residual": ("a shortcut around each block's second convolution", {}, {"residual": True}),
    "narrower": ("filters 32, 64, 128 (0.29 M parameters)", {}, {"widths": (32, 64, 128)}),
    "wider": ("filters 64, 128, 256 (1.16 M parameters)", {}, {"widths": (64, 128, 256)}),
    "no label smoothing": ("label smoothing 0 (recipe: 0.1)", {"label_smoothing": 0.0}, {}),
    "label smoothing 0.2": ("label smoothing 0.2, airbench's", {"label_smoothing": 0.2}, {}),
    "EMA 0.995": ("weights averaged, the average taken each epoch", {"ema": 0.995}, {}),
    "no erasing": ("no random erasing (recipe: half the images)", {"erasing": 0.0}, {}),
    "no shift": ("no random translation (recipe: up to 2 pixels)", {"shift": 0}, {}),
    "no flip": ("no random horizontal flip", {"flip": False}, {}),
    "cosine": ("cosine decay, 1-epoch warm-up (recipe: one-cycle)", {"schedule": "cosine"}, {}),
    "batch 256": ("batch 256, rate x 1.4", {"batch_size": 256, "learning_rate": 5.7e-3}, {}),
    "sgd": ("Nesterov SGD at 0.1 (recipe: AdamW)", {"optimizer": "sgd", "learning_rate": 0.1}, {}),
    "BN bias rate x8": ("batch norms' biases learn 8 times faster", {}, {"bias_scale": 8.0}),
    "BN bias rate x64": ("airbench's 64 times faster BN biases", {}, {"bias_scale": 64.0}),
}  # fmt: skip
# Rows that change only how the recipe's models answer (the recipe averages each answer over
# the image, its four one-pixel shifts and the mirror images of all five: `tta` 2):
# (what, the test-time augmentation level)
ANSWER_VARIANTS = {
    "flip TTA only": ("the image and its mirror image averaged, no shifts", 1),
    "no TTA": ("answers from the image alone", 0),
}


def subset(data, count: int, seed: int = 0):
    """The first `count` training images of a fixed shuffle (the test set whole)."""
    if count >= len(data.train_labels):
        return data
    rows = np.sort(np.random.default_rng(seed).permutation(len(data.train_labels))[:count])
    return replace(data, train_images=data.train_images[rows], train_labels=data.train_labels[rows])


def accuracy(model, images, labels, tta: int) -> float:
    """Test accuracy with the answers averaged over the views of level `tta`, as fmnist
    answers (`answer_probabilities`)."""
    _, answers = answer_probabilities(forward_function(model), images, tta)
    return float(np.mean(answers.argmax(1) == labels))


class TestCurve(keras.callbacks.Callback):
    """Test accuracy (the recipe's flip TTA) every `every` epochs against the seconds
    trained so far, measured off the clock: what the recipe reaches at 15 minutes of a
    longer schedule. The seconds are the epochs' own, as the run folder counts them."""

    def __init__(self, images, labels, every: int, tta: int):
        super().__init__()
        self.x, self.y, self.every, self.tta = images, labels, every, min(tta, 1)
        self.trained, self.points = 0.0, []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.trained += time.perf_counter() - self.started
        if self.every and (epoch + 1) % self.every == 0:
            test = accuracy(self.model, self.x, self.y, self.tta)
            self.points.append((epoch + 1, round(self.trained, 1), round(test, 4)))
            print(f"  test after {epoch + 1} epochs, {self.trained:.0f} s: {test:.4f}", flush=True)


def train_row(name: str, data, args, seed: int, runs: str) -> dict:
    """One variant, one seed: train it, read its run folder, measure its test accuracy."""
    _, fields, model_args = VARIANTS[name]
    config = resolve_config(
        model=RECIPE, runs_dir=runs, precision=args.precision, seed=seed, name=f"seed{seed}"
    )
    epochs = args.epochs or config.epochs
    config = replace(
        config, **fields, epochs=epochs, model_args={**config.model_args, **model_args}
    )
    curve = TestCurve(data.test_images, data.test_labels, args.curve_every, config.tta)
    started = time.perf_counter()
    run_dir = train(config, data, extra_callbacks=[curve])
    run = RunFolder(run_dir)
    metrics, history = run.read_metrics(), run.read_history()
    model = load_model(run.model_path)
    x, y = data.test_images, data.test_labels
    row = {
        "epochs": metrics.epochs_run,
        "seconds": metrics.wall_time_s,
        "wall_s": round(time.perf_counter() - started, 1),
        "val_accuracy": round(max(history["val_accuracy"]), 4),
        "test_accuracy": round(accuracy(model, x, y, config.tta), 4),
        "test_accuracy_without_tta": round(accuracy(model, x, y, 0), 4),
        "params": metrics.params,
        "test_curve": curve.points,  # (epochs, seconds, test accuracy)
    }
    if name == "recipe":
        for answer, (_, level) in ANSWER_VARIANTS.items():
            row[answer] = round(accuracy(model, x, y, level), 4)
    return row


def summarise(name: str, what: str, rows: list[dict], key="test_accuracy") -> dict:
    test = [r[key] for r in rows]
    return {
        "variant": name,
        "change": what,
        "seeds": len(rows),
        "epochs": rows[0]["epochs"],
        "seconds": round(float(np.mean([r["seconds"] for r in rows])), 1),
        "val_accuracy": round(float(np.mean([r["val_accuracy"] for r in rows])), 4),
        "test_accuracy": round(float(np.mean(test)), 4),
        "test_std": round(float(np.std(test)), 4),
        "params": rows[0]["params"],
        "runs": rows,
    }


def print_table(table: list[dict]) -> None:
    base = table[0]["test_accuracy"] if table and table[0]["variant"] == "recipe" else None
    head = f"{'epochs':>6} {'seconds':>8} {'val':>7} {'test':>7} {'+/-':>6} {'vs recipe':>9}"
    print(f"\n{'variant':<22} {head}")
    for r in table:
        delta = "" if base is None else f"{100 * (r['test_accuracy'] - base):+.2f}"
        print(
            f"{r['variant']:<22} {r['epochs']:>6} {r['seconds']:>8.0f} "
            f"{100 * r['val_accuracy']:>6.2f}% {100 * r['test_accuracy']:>6.2f}% "
            f"{100 * r['test_std']:>6.2f} {delta:>9}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-images", type=int, default=30_000)
    parser.add_argument("--epochs", type=int, default=8, help="0: the recipe's own epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--precision", choices=PRECISIONS, default="float32")
    parser.add_argument(
        "--curve-every", type=int, default=0, help="Test accuracy every N epochs (off the clock)."
    )
    parser.add_argument("--out", default="best_recipe", help="results file name")
    args = parser.parse_args()
    print(flags_line(), flush=True)
    data = subset(load_dataset("folder", data_dir()), args.train_images)
    setting = {
        "train_images": len(data.train_labels),
        "epochs": args.epochs or "the recipe's",
        "precision": args.precision,
        "seeds": args.seeds,
    }
    print(setting, flush=True)
    table = []
    with tempfile.TemporaryDirectory() as runs:
        for name in args.only:
            rows = [train_row(name, data, args, seed, runs) for seed in args.seeds]
            table.append(summarise(name, VARIANTS[name][0], rows))
            if name == "recipe":
                for answer, (what, *_) in ANSWER_VARIANTS.items():
                    table.append(summarise(answer, what, rows, key=answer))
            print_table(table)
            write_result(args.out, {**setting, "table": table})


if __name__ == "__main__":
    main()
