"""Scoring a model on people's photos: folders laid out like photos-dev, each named after
what it holds.

    >>> import numpy as np
    >>> shirts = np.array([[0.1, 0, 0, 0, 0, 0, 0.9, 0, 0, 0], [0.6, 0, 0, 0, 0, 0, 0.4, 0, 0, 0]])
    >>> score = score_folders({"shirt": shirts}, threshold=0.7)
    >>> score.overall.top1, score.overall.sure_accuracy, score.folders["shirt"].unsure
    (0.5, 1.0, 1)
    >>> risk_coverage(shirts, np.array([True, False]), coverages=(1.0, 0.5))
    [[1.0, 0.5, 0.6], [0.5, 1.0, 0.9]]

A folder counts as right the classes its class mapping gives it (`fmnist.data.photo_sets`):
one class exactly (sneaker, sandal and ankle-boot name one kind each), any of a set
("shoes": closed shoes that are none of the three, so any footwear answer is right), or none
(hat, shorts, skirt: the only right answer is "not sure"). "longsleeve" is scored against
Pullover (approximate, so the overall top-1 is also given without it). With a threshold, an
in-class answer is "sure" at or above it; the sure answers' accuracy is what "sure" means.
TensorFlow-free.
"""

from __future__ import annotations

import numpy as np

from fmnist.data.dataset import CLASS_NAMES
from fmnist.data.photo_sets import load_mapping
from fmnist.inference.unsure import unsure_mask
from fmnist.run_folder import PhotoScores

# folder -> the class indices that count as right (empty: out of class, "not sure" is right)
FOLDER_CLASSES = load_mapping()  # photos-dev's layout, fmnist.data.clothing_dataset.toml
APPROXIMATE = ("longsleeve",)  # reported, and overall figures given with and without them
COVERAGES = (1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5)  # the risk-coverage curve's points


def is_right(probabilities: np.ndarray, right: tuple) -> np.ndarray:
    """Whether each answer (the top class) is one of `right`."""
    return np.isin(np.asarray(probabilities).argmax(axis=1), right)


def folder_score(probabilities: np.ndarray, right: tuple, threshold: float | None) -> dict:
    """Top-1 and top-3 (in-class folders), how many answers fall below `threshold`, and of
    the in-class answers at or above it (sure), how many are right."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    unsure = unsure_mask(probabilities, threshold) if threshold is not None else None
    result = {"photos": len(probabilities), "unsure": None if unsure is None else int(unsure.sum())}
    if right:
        order = np.argsort(-probabilities, axis=1)
        top1 = np.isin(order[:, 0], right)
        top3 = np.array([np.isin(row[:3], right).any() for row in order], dtype=bool)
        result.update(top1=int(top1.sum()), top3=int(top3.sum()))
        if unsure is not None:
            result.update(sure=int((~unsure).sum()), sure_right=int((top1 & ~unsure).sum()))
        counts = np.bincount(order[:, 0], minlength=len(CLASS_NAMES))
        result["answers"] = {CLASS_NAMES[k]: int(n) for k, n in enumerate(counts) if n}
    return result


def score_folders(
    probabilities_by_folder: dict, threshold: float | None = None, mapping: dict | None = None
) -> PhotoScores:
    """Per folder and overall: top-1, top-3 (in-class folders), unsure rates (all), the sure
    answers' accuracy and the risk-coverage curve (in-class); folders named as in `mapping`
    (fmnist.data.photo_sets; default: photos-dev's layout)."""
    mapping = mapping or FOLDER_CLASSES
    folders = {}
    for name, probabilities in probabilities_by_folder.items():
        if name not in mapping:
            raise ValueError(f"{name}: not a folder the class mapping names ({', '.join(mapping)})")
        folders[name] = folder_score(probabilities, mapping[name], threshold)
    inside = [n for n in probabilities_by_folder if mapping[n]]
    curve = []
    if inside:
        in_class = np.concatenate([probabilities_by_folder[n] for n in inside])
        right = np.concatenate([is_right(probabilities_by_folder[n], mapping[n]) for n in inside])
        curve = risk_coverage(in_class, right)
    summary = overall(folders, threshold, mapping)
    return PhotoScores.model_validate(
        {"folders": folders, "overall": summary, "risk_coverage": curve}
    )


def overall(folders: dict, threshold: float | None, mapping: dict) -> dict:
    def rate(names, key, of="photos"):
        total = sum(folders[n][of] for n in names)
        return sum(folders[n][key] for n in names) / total if total else None

    inside = [n for n in folders if mapping[n]]
    exact = [n for n in inside if n not in APPROXIMATE]
    outside = [n for n in folders if not mapping[n]]
    result = {
        "top1": rate(inside, "top1"),
        "top3": rate(inside, "top3"),
        "top1_without_approximate": rate(exact, "top1"),
        "in_class_photos": sum(folders[n]["photos"] for n in inside),
        "out_of_class_photos": sum(folders[n]["photos"] for n in outside),
        "weakest_folder": min(inside, key=lambda n: folders[n]["top1"] / folders[n]["photos"])
        if inside
        else None,
    }
    if threshold is not None:
        result["threshold"] = threshold
        result["out_of_class_flagged"] = rate(outside, "unsure")
        result["in_class_flagged"] = rate(inside, "unsure")
        result["sure_accuracy"] = rate(inside, "sure_right", of="sure")
    return result


def risk_coverage(probabilities: np.ndarray, right: np.ndarray, coverages=COVERAGES) -> list:
    """The accuracy of the most confident answers, for each share of them answered: a list
    of [coverage, accuracy, the top probability the last answer given has]. What a threshold
    buys: answering fewer photos, how much more often right."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if len(probabilities) == 0:
        return []
    confidence = probabilities.max(axis=1)
    order = np.argsort(-confidence, kind="stable")
    right_sorted = np.asarray(right, dtype=bool)[order]
    points = []
    for coverage in coverages:
        count = max(1, int(round(coverage * len(order))))
        accuracy = float(right_sorted[:count].mean())
        points.append([coverage, accuracy, float(confidence[order][count - 1])])
    return points
