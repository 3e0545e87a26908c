"""Answers from a trained model: for raw pixels, test images or people's photos.

    >>> from fmnist.predict import Predictor  # doctest: +SKIP
    >>> predictor = Predictor.load("runs/<run>")  # doctest: +SKIP
    >>> predictor.predict_files(["shirt.jpg"])[0].verdict  # doctest: +SKIP

- `predictor`: `Predictor` and `Answer`, the one path every answer takes.
- `figures`: the figures of answers; `saliency`: the pixels that drove an answer.
"""

from fmnist.predict.predictor import (
    Answer,
    Predictor,
    answer_test_images,
    answer_test_selection,
    count_correct,
    pick_test_indices,
)

__all__ = [
    "Answer",
    "Predictor",
    "answer_test_images",
    "answer_test_selection",
    "count_correct",
    "pick_test_indices",
]
