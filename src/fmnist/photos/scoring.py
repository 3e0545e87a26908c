"""Scoring a model on people's photos: folders laid out like photos-dev, each named after
what it holds.

    >>> score = score_folders({"shirt": probabilities_of_the_shirt_photos, ...})
    >>> score["overall"]["top1"], score["folders"]["shoes"]["top3"]

Folder names map to Fashion-MNIST classes as photos-dev's README says: "shoes" counts as
right when the answer is any of Sandal, Sneaker or Ankle boot (the photos do not tell them
apart), "longsleeve" is scored against Pullover (approximate, so it is also reported on
its own), and hat, shorts and skirt are not Fashion-MNIST classes: there the only right
answer is "not sure". TensorFlow-free.
"""

from __future__ import annotations

import numpy as np

from fmnist.data.dataset import CLASS_NAMES
from fmnist.data.photo_sets import load_mapping

# folder -> the class indices that count as right (empty: out of class, "not sure" is right)
FOLDER_CLASSES = load_mapping()  # photos-dev's layout, fmnist.data.clothing_dataset.toml
APPROXIMATE = ("longsleeve",)  # reported, and overall figures given with and without them


def folder_score(probabilities: np.ndarray, right: tuple, threshold: float | None) -> dict:
    """Top-1 and top-3 (in-class folders), and how many answers fall below `threshold`."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confident = probabilities.max(axis=1)
    unsure = int(np.sum(confident < threshold)) if threshold is not None else None
    result = {"photos": len(probabilities), "unsure": unsure}
    if right:
        order = np.argsort(-probabilities, axis=1)
        top1 = np.isin(order[:, 0], right)
        top3 = np.array([np.isin(row[:3], right).any() for row in order])
        result.update(top1=int(top1.sum()), top3=int(top3.sum()))
        counts = np.bincount(order[:, 0], minlength=len(CLASS_NAMES))
        result["answers"] = {CLASS_NAMES[k]: int(n) for k, n in enumerate(counts) if n}
    return result


def score_folders(
    probabilities_by_folder: dict, threshold: float | None = None, mapping: dict | None = None
) -> dict:
    """Per folder and overall: top-1, top-3 (in-class folders), unsure rates (all); folders
    named as in `mapping` (fmnist.data.photo_sets; default: photos-dev's layout)."""
    mapping = mapping or FOLDER_CLASSES
    folders = {}
    for name, probabilities in probabilities_by_folder.items():
        if name not in mapping:
            raise ValueError(f"{name}: not a folder the class mapping names ({', '.join(mapping)})")
        folders[name] = folder_score(probabilities, mapping[name], threshold)
    return {"folders": folders, "overall": overall(folders, threshold, mapping)}


def overall(folders: dict, threshold: float | None, mapping: dict) -> dict:
    def rate(names, key):
        total = sum(folders[n]["photos"] for n in names)
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
    }
    if threshold is not None:
        result["threshold"] = threshold
        result["out_of_class_flagged"] = rate(outside, "unsure")
        result["in_class_flagged"] = rate(inside, "unsure")
    return result
