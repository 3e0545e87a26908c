"""Scoring photos the way photos-dev's README says: a footwear kind counts its own class
only, closed shoes count any footwear class, the out-of-class folders count "not sure",
longsleeve is reported apart; sure answers and the risk-coverage curve."""

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
    shirt, shoes = score.folders["shirt"], score.folders["shoes"]
    assert (shirt.top1, shirt.top3, shirt.photos) == (1, 2, 3)
    assert (shoes.top1, shoes.top3) == (3, 4)
    assert shirt.answers == {"Shirt": 1, "T-shirt/top": 1, "Bag": 1}
    overall = score.overall
    assert overall.top1 == pytest.approx(5 / 9)
    assert overall.top1_without_approximate == pytest.approx(4 / 7)
    assert overall.top3 == pytest.approx(7 / 9)


def test_footwear_kinds_are_scored_exactly():
    """A sneaker answered Sandal is wrong, as a sandal answered Sneaker is; only the closed
    shoes that are none of the three take any footwear answer."""
    score = score_folders(
        {
            "sneaker": answers((7,), (5,), (9,)),  # right, Sandal, Ankle boot
            "sandal": answers((5,), (7,)),  # right, Sneaker
            "ankle-boot": answers(
                (7, 9),
            ),  # Sneaker first: wrong, its top-3 right
            "shoes": answers((5,), (7,), (9,)),  # all right
        }
    )
    folders = score.folders
    assert [folders[k].top1 for k in ("sneaker", "sandal", "ankle-boot", "shoes")] == [1, 1, 0, 3]
    assert folders["ankle-boot"].top3 == 1
    assert (
        score.overall.top1 == pytest.approx(5 / 9) and score.overall.weakest_folder == "ankle-boot"
    )


def test_sure_answers_and_the_risk_coverage_curve():
    """Sure: in-class answers at or above the threshold; the curve: the surest first."""
    sure_right, sure_wrong, unsure_right = np.eye(10)[[6]], np.eye(10)[[3]], answers((6,))
    score = score_folders({"shirt": np.vstack([sure_right, sure_wrong, unsure_right])}, 0.9)
    shirt = score.folders["shirt"]
    assert (shirt.sure, shirt.sure_right, shirt.unsure) == (2, 1, 1)
    assert score.overall.sure_accuracy == pytest.approx(1 / 2)
    curve = {coverage: right for coverage, right, _ in score.risk_coverage}
    assert curve[1.0] == pytest.approx(2 / 3)  # every answer: two of three right


def test_unsure_rates_by_threshold():
    confident, unsure = np.eye(10)[[3]], np.full((1, 10), 0.1)
    score = score_folders(
        {"dress": np.vstack([confident, unsure]), "hat": np.vstack([unsure, unsure, confident])},
        threshold=0.5,
    )
    overall = score.overall
    assert overall.out_of_class_flagged == pytest.approx(2 / 3)
    assert overall.in_class_flagged == pytest.approx(1 / 2)
    assert score.folders["hat"].top1 is None  # no class: only "not sure" is right
    assert score_folders({"dress": confident}).folders["dress"].unsure is None


def test_an_unknown_folder_is_refused():
    with pytest.raises(ValueError, match="bags: not a folder the class mapping names"):
        score_folders({"bags": answers((8,))})
