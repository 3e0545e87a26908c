"""The "not sure" rule: the threshold under which validation answers are right at most half
the time, kept in the model file and applied to every answer."""

import numpy as np
import pytest

from fmnist.inference.unsure import unsure_share, unsure_threshold


def probabilities_with_top(tops, predicted):
    rows = np.full((len(tops), 10), 0.0)
    for row, top, k in zip(rows, tops, predicted, strict=True):
        row[:] = (1 - top) / 9
        row[k] = top
    return rows


def test_the_threshold_sits_where_the_lowest_answers_are_right_half_the_time():
    tops = np.array([0.2, 0.25, 0.3, 0.35, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95])
    labels = np.zeros(10, int)
    predicted = [1, 1, 0, 1, 0, 0, 0, 0, 0, 0]  # wrong, wrong, right, wrong, right, then right
    threshold = unsure_threshold(probabilities_with_top(tops, predicted), labels)
    # up to 0.4: 2 right of 5 (0.4); up to 0.6: 3 of 6 (0.5); up to 0.7: 4 of 7 (> 0.5)
    assert 0.6 < threshold < 0.7
    assert unsure_share(probabilities_with_top(tops, predicted), threshold) == pytest.approx(0.6)


def test_a_model_that_is_always_right_is_never_unsure():
    probabilities = probabilities_with_top([0.3, 0.5, 0.9], [2, 2, 2])
    assert unsure_threshold(probabilities, np.array([2, 2, 2])) == 0.0


def test_an_unsure_answer_says_what_it_looks_most_like():
    from fmnist.predict import Answer

    answer = Answer("skirt.jpg", [("Dress", 0.41), ("Coat", 0.2)], unsure=True)
    assert answer.verdict == "not sure: looks most like Dress"
    assert answer.describe(None).startswith("skirt.jpg: not sure: looks most like Dress")
    assert answer.to_dict(None)["sure"] is False
    sure = Answer("dress.jpg", [("Dress", 0.91)])
    assert sure.verdict == "Dress" and sure.to_dict(None)["answer"] == "Dress"
