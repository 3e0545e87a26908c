"""When to say "not sure": a threshold on the top probability, chosen on validation data
when a model is trained, kept in the model file, applied to every answer.

    >>> threshold = unsure_threshold(validation_probabilities, validation_labels)
    >>> answer.unsure          # top probability under it: "not sure: looks most like X"

The rule: the answers with the lowest top probabilities, taken together, are right at most
half the time. The threshold is the highest top probability at which the validation
answers at or under it are still right no more than half the time; under it, the model is
as likely wrong as right, and says so. A label-smoothed model is under-confident (its
probabilities run low), so a fixed cut such as 0.5 would mean different things for
different models; this one means the same for each. NumPy only.

What it does and does not catch, measured on photos-dev (docs/models-and-predictions.md):
it flags the model's own doubt, not the strangeness of a photo. A skirt that looks like a
dress to the model is answered as confidently as a dress.
"""

from __future__ import annotations

import numpy as np

RIGHT_AT_MOST = 0.5  # the lowest answers, together, are right at most this often
BLANK_RANGE = 16  # grey levels: an input whose pixels span less shows nothing to answer


def is_blank(pixels: np.ndarray) -> bool:
    """Whether an input has nothing in it: one flat grey (a 1 x 1 image, a blank page), its
    pixels within BLANK_RANGE of each other. Its answer is "not sure", whatever the model's
    probabilities say: they describe a shape that is not there."""
    pixels = np.asarray(pixels, dtype=np.float32)
    return pixels.size == 0 or float(np.ptp(pixels)) < BLANK_RANGE


def unsure_threshold(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The top probability under which answers are "not sure" (0.0: none are), from
    validation probabilities (N, classes) and their true labels (N,)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if len(probabilities) == 0:
        return 0.0
    top = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == np.asarray(labels)
    order = np.argsort(top, kind="stable")
    accuracy_up_to = np.cumsum(right[order]) / np.arange(1, len(order) + 1)
    low = np.flatnonzero(accuracy_up_to <= RIGHT_AT_MOST)
    if len(low) == 0:
        return 0.0
    # Just above the last such answer: it and every answer under it are "not sure".
    return float(np.nextafter(top[order][low[-1]], np.inf))


def verdict(class_name: str, unsure: bool, blank: bool = False) -> str:
    """An answer in words: the class, or "not sure: looks most like" it (or, for an input
    with nothing in it, "not sure: the image is blank")."""
    if blank:
        return "not sure: the image is blank"
    return f"not sure: looks most like {class_name}" if unsure else class_name


def unsure_share(probabilities: np.ndarray, threshold: float) -> float:
    """The share of answers under `threshold`."""
    probabilities = np.asarray(probabilities)
    return float(np.mean(probabilities.max(axis=1) < threshold)) if len(probabilities) else 0.0


def photo_threshold(probabilities: np.ndarray, in_class: np.ndarray, flagged: float) -> float:
    """The threshold for a model that learned out-of-class photos: the highest one that flags
    at most `flagged` of the in-class photos (held-out ones), so it flags as many
    out-of-class photos as that allows. Chosen on photos the model did not learn from."""
    top = np.sort(np.asarray(probabilities, dtype=np.float64)[np.asarray(in_class)].max(axis=1))
    if len(top) == 0:
        return 0.0
    allowed = int(np.floor(flagged * len(top)))  # answers under the threshold
    return float(top[allowed]) if allowed < len(top) else float(np.nextafter(top[-1], np.inf))
