"""Which pixels drove an answer: SmoothGrad saliency, for any model in the zoo.

    >>> heat = saliency_map(predictor.model, pixels, class_index)   # (28, 28) in [0, 1]

The gradient of the answered class's probability with respect to each input pixel, its
absolute value averaged over copies of the image with a little noise added (Smilkov et
al., 2017: "SmoothGrad"), which keeps the map from being one pixel's speckle. It needs no
particular layer, so the MLPs are explained as the CNNs are (Grad-CAM would need a
convolution layer, and its 7 x 7 map says less on a 28 x 28 image).
"""

from __future__ import annotations

import numpy as np

from fmnist.training.models import as_model_input

SAMPLES = 16
NOISE = 0.1 * 255  # the noise's standard deviation: a tenth of the pixel range


def saliency_map(model, pixels: np.ndarray, class_index: int, seed: int = 0) -> np.ndarray:
    """(28, 28) saliency of `class_index` for one image's raw pixels, scaled to [0, 1]."""
    import tensorflow as tf

    x = as_model_input(np.asarray(pixels, dtype=np.float32).reshape(1, 28, 28))
    noise = np.random.default_rng(seed).normal(0, NOISE, (SAMPLES, 28, 28, 1))
    noisy = tf.constant(np.clip(x + noise, 0, 255).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(noisy)
        probability = model(noisy, training=False)[:, class_index]
    gradient = tape.gradient(probability, noisy).numpy()
    heat = np.abs(gradient).mean(axis=0)[..., 0]
    return heat / heat.max() if heat.max() > 0 else heat
