"""When to say "not sure": a threshold on the top probability, chosen on validation data
when a model is trained, kept in the model file, applied to every answer.

    >>> import numpy as np
    >>> probabilities = np.array([[0.9, 0.1], [0.55, 0.45], [0.6, 0.4]])
    >>> unsure_threshold(probabilities, np.array([0, 1, 1])) > 0.6    # the low ones are wrong
    True
    >>> unsure_mask(probabilities, 0.7).tolist()
    [False, True, True]
    >>> verdict("Shirt", unsure=True)
    'not sure: looks most like Shirt'

The rule: the answers with the lowest top probabilities, taken together, are right at most
half the time. The threshold is the highest top probability at which the validation
answers at or under it are still right no more than half the time; under it, the model is
as likely wrong as right, and says so. A label-smoothed model is under-confident (its
probabilities run low), so a fixed cut such as 0.5 would mean different things for
different models; this one means the same for each. NumPy only.

What it does and does not catch, measured on photos-dev (docs/models-and-predictions.md):
it flags the model's own doubt, not the strangeness of a photo. A skirt that looks like a
dress to a model that never saw one is answered as confidently as a dress.

A model that learned photos (out-of-class ones among them) has its threshold chosen on
held-out photos instead, so that "sure" means right (`photo_threshold`): the lowest top
probability at which the sure answers are right SURE_RIGHT of the time.
"""

from __future__ import annotations

import numpy as np

RIGHT_AT_MOST = 0.5  # the lowest answers, together, are right at most this often
SURE_RIGHT = 0.95  # a photo-ready model's sure answers are right this often (held-out photos)
BLANK_RANGE = 16  # grey levels: an input whose pixels span less shows nothing to answer


def is_blank(pixels: np.ndarray) -> bool:
    """Whether an input has nothing in it: one flat grey (a 1 x 1 image, a blank page), its
    pixels within BLANK_RANGE of each other. Its answer is "not sure", whatever the model's
    probabilities say: they describe a shape that is not there."""
    pixels = np.asarray(pixels, dtype=np.float32)
    return pixels.size == 0 or float(np.ptp(pixels)) < BLANK_RANGE


def unsure_mask(probabilities, threshold: float | None) -> np.ndarray:
    """The one "not sure" test: whether each answer's top probability (N, classes) is under
    `threshold` (none is, without one)."""
    top = np.asarray(probabilities, dtype=np.float64).max(axis=-1)
    return top < threshold if threshold is not None else np.zeros(top.shape, dtype=bool)


def is_unsure(probabilities, threshold: float | None) -> bool:
    """`unsure_mask` of one answer."""
    return bool(unsure_mask(np.asarray(probabilities)[None], threshold)[0])


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
    unsure = unsure_mask(probabilities, threshold)
    return float(np.mean(unsure)) if len(unsure) else 0.0


def photo_threshold(
    probabilities: np.ndarray, in_class: np.ndarray, right: np.ndarray, sure_right: float
) -> float:
    """The threshold for a model that learned photos, chosen on photos it did not learn
    from (held-out ones): the lowest at which the in-class answers at or above it (the sure
    ones) are right at least `sure_right` of the time, so that "sure" means right; every
    out-of-class photo under it is flagged as well. `right`: whether each answer is one of
    its photo's classes (ignored for out-of-class photos)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    in_class = np.asarray(in_class, dtype=bool)
    top = probabilities[in_class].max(axis=1)
    if len(top) == 0:
        return 0.0
    order = np.argsort(-top, kind="stable")
    right_sorted = np.asarray(right, dtype=bool)[in_class][order]
    accuracy_of_top = np.cumsum(right_sorted) / np.arange(1, len(order) + 1)
    enough = np.flatnonzero(accuracy_of_top >= sure_right)
    if len(enough) == 0:  # not even its surest answer is right: nothing is sure
        return float(np.nextafter(top.max(), np.inf))
    return float(top[order][enough[-1]])
