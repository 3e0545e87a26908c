"""Figures of answers: the 28 x 28 input, its prediction and bars, a blue/red grid, and a
photo's steps with the pixels that drove its answer.

    >>> save_answer_figures(answers, predictor.class_names, "predictions/")  # doctest: +SKIP
    >>> save_explanations(predictor, photo_answers, ".")  # a figure per photo  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from fmnist.predict.predictor import Answer, Predictor
from fmnist.run_folder import PREDICTION_GRID, atomic_paths, prediction_path


def save_answer_figures(
    answers: list[Answer], class_names, out: Path | str, per_image: int | None = None, grid=True
) -> list[Path]:
    """For each answer (the first `per_image` of them, if given): the 28 x 28 image the
    model saw, the image titled with its prediction, and the image beside its probability
    bars; and (`grid`) a blue/red grid of all answers that have true labels."""
    from fmnist.plots import image_with_probabilities, prediction_figure, write_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for answer in answers[:per_image]:
        name, probability = answer.top[0]
        stem = _file_stem(answer.source)
        kinds = ("28x28", "prediction", "bars")
        targets = [prediction_path(out, stem, kind) for kind in kinds]
        with atomic_paths(*targets) as (seen, titled, bars):  # all three, or none replaced
            Image.fromarray(answer.image.astype(np.uint8)).save(seen, "PNG")
            write_figure(prediction_figure(answer.image, f"{name} ({probability:.0%})"), titled)
            write_figure(
                image_with_probabilities(
                    answer.image, answer.probabilities, class_names, answer.true_label
                ),
                bars,
            )
        paths += targets
    return paths + (save_grid(answers, class_names, out) if grid else [])


def save_grid(answers: list[Answer], class_names, out: Path | str) -> list[Path]:
    """The blue/red grid of the answers that have true labels (none without any)."""
    from fmnist.plots import prediction_grid, save_figure

    known = [a for a in answers if a.true_label is not None]
    paths = []
    if known:
        grid = prediction_grid(
            np.stack([a.image for a in known]),
            [int(np.argmax(a.probabilities)) for a in known],
            [a.true_label for a in known],
            [a.top[0][1] for a in known],
            class_names,
            unsure=[a.unsure for a in known],
        )
        paths.append(save_figure(grid, Path(out) / PREDICTION_GRID))
    return paths


def save_explanations(predictor: Predictor, answers: list[Answer], out: Path | str) -> list[Path]:
    """For each photo's answer a figure (`fmnist.run_folder.prediction_path`): its steps,
    the saliency of the answered class (fmnist.predict.saliency) and the probability bars."""
    from fmnist.plots import explanation_figure, save_figure
    from fmnist.predict.saliency import reading, saliency_map

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for answer in answers:
        if answer.steps is None:
            continue
        predicted = int(np.argmax(answer.probabilities))
        heat = saliency_map(predictor.model, answer.image, predicted)
        figure = explanation_figure(
            answer.steps,
            answer.probabilities,
            predictor.class_names,
            heat,
            f"{answer.verdict} ({answer.top[0][1]:.0%})",
            answer.source,
            reading(heat, predictor.class_names[predicted]),
        )
        paths.append(
            save_figure(figure, prediction_path(out, _file_stem(answer.source), "explain"))
        )
    return paths


def _file_stem(source: str) -> str:
    """A file-name-safe stem for an answer's source ("test[3]" -> "test-3")."""
    stem = Path(source.replace("[", "-").rstrip("]")).stem
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)
