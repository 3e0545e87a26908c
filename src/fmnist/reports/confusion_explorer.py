"""The report's explorable confusion matrix: a table whose cells open their test images.

    >>> test = run.metrics.split("test")  # doctest: +SKIP
    >>> explorer = confusion_explorer(test, run.folder.examples_path("test"))  # doctest: +SKIP
    >>> explorer["rows"][6][0]  # the Shirt row's first cell: count, share, link  # doctest: +SKIP
    >>> explorer["cells"][0]["images"][0]["caption"]  # doctest: +SKIP

The images come from the examples file `fmnist.evaluation.evaluate` writes beside the
metrics (the images its `select_examples` picks: the most confident answers of every cell,
and the most confident mistakes), turned into 28 x 28 PNG thumbnails embedded in the
page: no network, no JavaScript (a cell's link targets its panel, which CSS shows).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fmnist.evaluation.evaluate import CONFIDENT_MISTAKES
from fmnist.images import data_url
from fmnist.run_folder import Evaluation


def thumbnail(image: np.ndarray) -> str:
    """A 28 x 28 image as a PNG data URI, dark article on white as the data set is shown."""
    return data_url(255 - np.asarray(image, dtype=np.uint8), optimize=True)


def caption(probabilities: np.ndarray, names) -> str:
    """The two likeliest classes with their probabilities: "Shirt 81% · T-shirt/top 12%"."""
    top = np.argsort(-probabilities)[:2]
    return " · ".join(f"{names[k]} {probabilities[k]:.0%}" for k in top)


def load_examples(path: Path) -> dict | None:
    if not Path(path).is_file():
        return None
    with np.load(path) as examples:
        return {key: examples[key] for key in examples.files}


def cell_id(true: int, predicted: int) -> str:
    return f"cell-{true}-{predicted}"


def shown_image(examples: dict, k: int, names) -> dict:
    probabilities = examples["probabilities"][k].astype(np.float32)
    return {
        "src": thumbnail(examples["image"][k]),
        "index": int(examples["index"][k]),
        "caption": caption(probabilities, names),
        "alt": f"test image {int(examples['index'][k])}, true {names[examples['label'][k]]}",
    }


def confusion_explorer(evaluation: Evaluation, examples_path: Path) -> dict | None:
    """Table rows (count, row share, link) and one panel of thumbnails per non-empty cell;
    None when the evaluation predates recording its confusion matrix."""
    confusion = evaluation.confusion
    if not confusion:
        return None
    names = list(evaluation.per_class)
    examples = load_examples(examples_path)
    rows = []
    for i, row in enumerate(confusion):
        total = max(sum(row), 1)
        rows.append(
            [{"count": c, "share": c / total, "id": cell_id(i, j)} for j, c in enumerate(row)]
        )
    cells, mistakes = [], []
    if examples is not None:
        predicted = examples["probabilities"].argmax(axis=1)
        confidence = examples["probabilities"].max(axis=1).astype(np.float32)
        order = np.argsort(-confidence, kind="stable")
        groups: dict[tuple, list] = {}
        for k in order:  # most confident first within each cell
            groups.setdefault((int(examples["label"][k]), int(predicted[k])), []).append(k)
        for i, row in enumerate(confusion):
            for j, count in enumerate(row):
                if count:
                    members = groups.get((i, j), [])
                    cells.append(cell_panel(examples, members, names, i, j, count, sum(row)))
        wrong = [k for k in order if examples["label"][k] != predicted[k]]
        for k in wrong[:CONFIDENT_MISTAKES]:
            image = shown_image(examples, k, names)
            image["title"] = f"true {names[examples['label'][k]]}"
            mistakes.append(image)
    return {"names": names, "rows": rows, "cells": cells, "mistakes": mistakes}


def cell_panel(examples, members, names, true, predicted, count, row_total) -> dict:
    verdict = "right" if true == predicted else f"taken for {names[predicted]}"
    return {
        "id": cell_id(true, predicted),
        "title": f"{names[true]}, {verdict}: {count} of {row_total} test images "
        f"({count / max(row_total, 1):.1%})",
        "note": f"the {len(members)} most confident shown" if len(members) < count else "",
        "images": [shown_image(examples, k, names) for k in members],
    }
