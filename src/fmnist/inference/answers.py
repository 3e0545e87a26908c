"""The one path from raw pixels to answers: the model's input, its forward function, the
views an answer averages, and the probabilities.

    >>> import numpy as np
    >>> as_model_input(np.zeros((2, 28, 28), np.uint8)).shape
    (2, 28, 28, 1)
    >>> [len(answer_views(np.zeros((3, 28, 28, 1)), level)) for level in TTA_LEVELS]
    [1, 2, 10]
    >>> tta_name(2)
    'flip and shift TTA'

Input convention: every model takes **raw grayscale pixels, 0-255**, shaped (N, 28, 28, 1)
(float or uint8); scaling is the model's first layer, so a saved, reloaded or served model
needs no preprocessing of its own. Keras also accepts (N, 28, 28) on a model's first call,
but not a mix of both shapes afterwards (`predict` re-traces), so every entry point adds
the channel axis (`as_model_input`). The output is the ten class probabilities (softmax),
in the order of `fmnist.data.dataset.CLASS_NAMES`.

Test-time augmentation has one setting, `tta`, a level as airbench's `tta_level` is: 0
answers the image as it is; 1 averages it with its mirror image (the recipes trained with
flips); 2 also averages the image moved one pixel each way, and those mirrored (10 views).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fmnist.errors import FmnistError

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
TTA_LEVELS = (0, 1, 2)
TTA_NAMES = ("no TTA", "flip TTA", "flip and shift TTA")
SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # the one-pixel moves of level 2


def tta_name(level: int) -> str:
    """A level in words, as the reports say it."""
    return TTA_NAMES[level]


def tta_level(values: dict) -> int:
    """The level a record or a model file's metadata gives: `tta` as a level, or the two
    switches files written before levels had (`tta`/`flip_tta` and `shift_tta`)."""
    tta = values.get("tta", values.get("flip_tta", 0))
    if isinstance(tta, bool) or "shift_tta" in values:
        return 2 if values.get("shift_tta") else int(bool(tta))
    return int(tta)


def as_model_input(images) -> np.ndarray:
    """Raw pixels (N, 28, 28), (N, 28, 28, 1), (28, 28) or (28, 28, 1) -> float32 (N, 28, 28, 1)."""
    images = np.asarray(images, dtype=np.float32)
    shape = images.shape
    if images.ndim in (2, 3) and shape[-2:] == INPUT_SHAPE[:2]:
        images = images[..., np.newaxis]
    if images.shape == INPUT_SHAPE:
        images = images[np.newaxis]
    if images.shape[1:] != INPUT_SHAPE:
        raise FmnistError(f"images shaped {shape}; expected (N, 28, 28) or (N, 28, 28, 1)")
    return images


def shift_images(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Images (N, H, W[, C]) moved by (dy, dx) pixels, the edge filled with background (0)."""
    out = np.zeros_like(images)
    height, width = images.shape[1:3]
    out[:, max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = images[
        :, max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
    ]
    return out


def answer_views(batch: np.ndarray, tta: int) -> list[np.ndarray]:
    """The views of a batch (N, 28, 28, 1) that an answer averages at level `tta`."""
    views = [batch] + [shift_images(batch, dy, dx) for dy, dx in SHIFTS if tta >= 2]
    return views + [view[:, :, ::-1] for view in views] if tta >= 1 else views


def forward_function(model) -> Callable:
    """The model as one traced function of float32 inputs (N, 28, 28, 1) -> NumPy
    probabilities: one graph for every batch size, far faster per call than model.predict.
    Made once per model and kept on it (tracing again costs time and TensorFlow warns)."""
    if "_fmnist_forward" not in vars(model):
        import tensorflow as tf

        spec = tf.TensorSpec([None, *INPUT_SHAPE], tf.float32)
        traced = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        vars(model)["_fmnist_forward"] = lambda x: traced(x).numpy()  # not a tracked layer
    return vars(model)["_fmnist_forward"]


def answer_probabilities(forward: Callable, images, tta: int = 0, batch_size: int = 1024):
    """The images shaped for the model (`as_model_input`), in batches through `forward`
    (`forward_function(model)`), each answer averaged over its views at level `tta` (all of
    an image's views in one call). Returns (plain, answered) probabilities, (N, 10) each:
    the same array twice at level 0."""
    x = as_model_input(images)
    count = len(answer_views(x[:0], tta))  # views an answer averages
    step = max(1, batch_size // count)
    plain, answered = [], []
    for start in range(0, len(x), step):
        batch = x[start : start + step]
        if count == 1:
            plain.append(forward(batch))
            continue
        views = forward(np.concatenate(answer_views(batch, tta)))
        views = views.reshape(count, len(batch), -1)
        plain.append(views[0])
        answered.append(views.mean(axis=0))
    if not plain:
        empty = np.zeros((0, NUM_CLASSES), np.float32)
        return empty, empty
    plain = np.concatenate(plain)
    return plain, np.concatenate(answered) if count > 1 else plain


def predict_probabilities(model, images, tta: int = 0, batch_size: int = 512) -> np.ndarray:
    """Class probabilities (N, 10) of `model`, answered at level `tta`."""
    return answer_probabilities(forward_function(model), images, tta, batch_size)[1]
