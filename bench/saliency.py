"""Is the "why" map right? The share of each explanation method's map that falls on the
garment's own pixels, on Fashion-MNIST test images, for the model given.

    FMNIST_DATA_DIR=../shared/data/fashion-mnist python bench/saliency.py --model runs/<run>

A map that explains a garment's class should lie on the garment (pixels above 16 grey
levels; the ground is black). Measured for fmnist's map (integrated gradients,
`fmnist.predict.saliency`) against SmoothGrad (the absolute gradient over noisy copies),
occlusion (the drop in probability when a 4 x 4 patch is blacked out, stride 2) and
Grad-CAM on the last convolution (CNNs only), each for the answered class. Prints the mean,
median and worst share, how many images reach 90%, the garment's own share of the image
(what a map spread at random would get) and the time per image. Writes
bench/results/saliency.json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from common import data_dir, write_result
from fmnist.artifacts import load_model
from fmnist.data import load_dataset
from fmnist.inference.answers import as_model_input
from fmnist.machine import flags_line
from fmnist.predict.saliency import GARMENT_LEVEL, mass_on_garment, saliency_map
from fmnist.run_folder import resolve_model_path


def scaled(heat: np.ndarray) -> np.ndarray:
    return heat / heat.max() if heat.max() > 0 else heat


def smoothgrad(model, pixels, answered, samples=16, noise=25.5):
    import tensorflow as tf

    x = as_model_input(pixels.reshape(1, 28, 28))
    noisy = np.random.default_rng(0).normal(0, noise, (samples, 28, 28, 1))
    noisy = tf.constant(np.clip(x + noisy, 0, 255).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(noisy)
        probability = model(noisy, training=False)[:, answered]
    return scaled(np.abs(tape.gradient(probability, noisy).numpy()).mean(axis=0)[..., 0])


def occlusion(model, pixels, answered, patch=4, stride=2):
    x = as_model_input(pixels.reshape(1, 28, 28))
    base = float(model(x, training=False)[0, answered])
    spots = [(i, j) for i in range(0, 25, stride) for j in range(0, 25, stride)]
    batch = np.repeat(x, len(spots), axis=0)
    for k, (i, j) in enumerate(spots):
        batch[k, i : i + patch, j : j + patch, 0] = 0
    dropped = base - np.asarray(model(batch, training=False))[:, answered]
    heat, count = np.zeros((28, 28)), np.zeros((28, 28))
    for k, (i, j) in enumerate(spots):
        heat[i : i + patch, j : j + patch] += max(dropped[k], 0)
        count[i : i + patch, j : j + patch] += 1
    return scaled(heat / np.maximum(count, 1))


def grad_cam(model, pixels, answered):
    import keras
    import tensorflow as tf

    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convolutions:
        return None
    inner = keras.Model(model.inputs, [convolutions[-1].output, model.output])
    x = tf.constant(as_model_input(pixels.reshape(1, 28, 28)))
    with tf.GradientTape() as tape:
        maps, probabilities = inner(x, training=False)
        score = probabilities[:, answered]
    weights = tape.gradient(score, maps).numpy()[0].mean(axis=(0, 1))
    cam = np.maximum((maps.numpy()[0] * weights).sum(-1), 0)
    return scaled(tf.image.resize(cam[..., None], (28, 28)).numpy()[..., 0])


METHODS = {
    "integrated gradients (fmnist)": saliency_map,
    "occlusion": occlusion,
    "SmoothGrad": smoothgrad,
    "Grad-CAM": grad_cam,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="A run folder or model file.")
    parser.add_argument("--images", type=int, default=200, help="Test images, drawn at random.")
    args = parser.parse_args()
    print(flags_line())
    model = load_model(resolve_model_path(args.model)[0])
    data = load_dataset(data_dir=data_dir())
    chosen = np.random.default_rng(0).choice(len(data.test_labels), args.images, replace=False)
    images = data.test_images[chosen].astype(np.float32)
    answers = np.argmax(np.asarray(model(as_model_input(images), training=False)), axis=1)
    garment = float(np.mean(images > GARMENT_LEVEL))
    rows = []
    for name, method in METHODS.items():
        started, shares = time.perf_counter(), []
        for pixels, answered in zip(images, answers, strict=True):
            heat = method(model, pixels, int(answered))
            if heat is None:
                break
            shares.append(mass_on_garment(heat, pixels))
        if not shares:
            print(f"{name:32s} not for this model (no convolution)")
            continue
        row = {
            "method": name,
            "mean": round(float(np.mean(shares)), 3),
            "median": round(float(np.median(shares)), 3),
            "worst": round(float(np.min(shares)), 3),
            "at_least_90": round(float(np.mean(np.array(shares) >= 0.9)), 3),
            "ms_per_image": round(1000 * (time.perf_counter() - started) / len(shares), 1),
        }
        rows.append(row)
        print(
            f"{name:32s} on the garment: mean {row['mean']:.1%}, median {row['median']:.1%}, "
            f"worst {row['worst']:.1%}; >= 90% for {row['at_least_90']:.0%} of images; "
            f"{row['ms_per_image']:.0f} ms an image"
        )
    print(f"(the garment covers {garment:.1%} of an image: a map spread at random gets that)")
    write_result(
        "saliency", {"model": args.model, "images": args.images, "garment": garment, "rows": rows}
    )


if __name__ == "__main__":
    main()
