"""Scoring photos the way photos-dev's README says: shoes count any footwear class, the
out-of-class folders count "not sure", longsleeve is reported apart."""

import numpy as np
import pytest

from fmnist.photos.scoring import score_folders


def answers(*rows):
    """Probabilities whose top classes are given best first, e.g. (6, 0, 2)."""
    out = np.tile(0.01 - 0.0001 * np.arange(10), (len(rows), 1))  # no ties: order is defined
    for k, order in enumerate(rows):
        for rank, cls in enumerate(order):
            out[k, cls] = 0.5 / (rank + 1)
    return out / out.sum(axis=1, keepdims=True)


def test_top1_top3_and_footwear():
    score = score_folders(
        {
            "shirt": answers((6, 0), (0, 6), (8, 4, 0)),  # right, second, not in top 3
            "shoes": answers((5,), (7,), (9,), (8, 5)),  # three footwear classes all count
            "longsleeve": answers((2,), (4,)),
        }
    )
    shirt, shoes = score["folders"]["shirt"], score["folders"]["shoes"]
    assert (shirt["top1"], shirt["top3"], shirt["photos"]) == (1, 2, 3)
    assert (shoes["top1"], shoes["top3"]) == (3, 4)
    assert shirt["answers"] == {"Shirt": 1, "T-shirt/top": 1, "Bag": 1}
    overall = score["overall"]
    assert overall["top1"] == pytest.approx(5 / 9)
    assert overall["top1_without_approximate"] == pytest.approx(4 / 7)
    assert overall["top3"] == pytest.approx(7 / 9)


def test_unsure_rates_by_threshold():
    confident, unsure = np.eye(10)[[3]], np.full((1, 10), 0.1)
    score = score_folders(
        {"dress": np.vstack([confident, unsure]), "hat": np.vstack([unsure, unsure, confident])},
        threshold=0.5,
    )
    overall = score["overall"]
    assert overall["out_of_class_flagged"] == pytest.approx(2 / 3)
    assert overall["in_class_flagged"] == pytest.approx(1 / 2)
    assert "top1" not in score["folders"]["hat"]  # no class: only "not sure" is right
    assert score_folders({"dress": confident})["folders"]["dress"]["unsure"] is None


def test_an_unknown_folder_is_refused():
    with pytest.raises(ValueError, match="bags: not a folder the class mapping names"):
        score_folders({"bags": answers((8,))})
