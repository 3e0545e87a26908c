"""Metrics against scikit-learn on fabricated predictions; files the evaluation writes."""

import json

import numpy as np
import pytest
from sklearn import metrics as sk

from fmnist.evaluation.evaluate import (
    Evaluation,
    calibration,
    compute_metrics,
    most_confused,
    write_evaluation,
)

NAMES = tuple(f"c{k}" for k in range(10))


@pytest.fixture
def fabricated():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 500)
    logits = rng.normal(size=(500, 10))
    logits[np.arange(500), labels] += rng.uniform(0, 4, 500)  # mostly right, sometimes not
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probabilities, labels


def test_metrics_equal_scikit_learn(fabricated):
    probabilities, labels = fabricated
    metrics, confusion = compute_metrics(probabilities, labels, NAMES)
    predicted = probabilities.argmax(axis=1)
    assert metrics["accuracy"] == pytest.approx(sk.accuracy_score(labels, predicted))
    assert metrics["macro_f1"] == pytest.approx(sk.f1_score(labels, predicted, average="macro"))
    assert metrics["loss"] == pytest.approx(sk.log_loss(labels, probabilities), rel=1e-6)
    assert metrics["top2_accuracy"] == pytest.approx(
        sk.top_k_accuracy_score(labels, probabilities, k=2)
    )
    precision, recall, f1, support = sk.precision_recall_fscore_support(labels, predicted)
    for k, name in enumerate(NAMES):
        row = metrics["per_class"][name]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (precision[k], recall[k], f1[k], support[k])
        )
    np.testing.assert_array_equal(confusion, sk.confusion_matrix(labels, predicted))
    assert confusion.sum(axis=1).tolist() == np.bincount(labels, minlength=10).tolist()


def test_most_confused_pairs():
    confusion = np.diag([50] * 10)
    confusion[6, 0], confusion[2, 4], confusion[6, 4] = 30, 12, 12
    pairs = most_confused(confusion, NAMES, top=10)
    assert pairs[0] == {"true": "c6", "predicted": "c0", "count": 30}
    assert {(p["true"], p["predicted"]) for p in pairs[1:]} == {("c2", "c4"), ("c6", "c4")}
    assert len(pairs) == 3  # only cells with errors


def test_calibration_by_hand():
    # Two confident right answers (0.9), two half-sure answers (0.6), one of them wrong.
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    labels = np.array([0, 0, 0, 0])
    ece, bins = calibration(probabilities, labels, bins=10)
    # bin (0.8, 0.9]: accuracy 1.0 vs confidence 0.9; bin (0.5, 0.6]: accuracy 0.5 vs 0.6
    assert ece == pytest.approx(0.5 * 0.1 + 0.5 * 0.1)
    assert sum(b["count"] for b in bins) == 4


def test_write_evaluation_merges_into_metrics_json(tmp_path, fabricated):
    probabilities, labels = fabricated
    (tmp_path / "metrics.json").write_text(json.dumps({"wall_time_s": 0.5}))
    metrics, confusion = compute_metrics(probabilities, labels, NAMES)
    images = np.zeros((500, 28, 28), np.uint8)
    result = Evaluation(metrics, confusion, probabilities, labels, images, NAMES)
    paths = write_evaluation(result, tmp_path, "test")
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["wall_time_s"] == 0.5 and saved["evaluation"]["test"]["images"] == 500
    assert {p.name for p in paths} >= {
        "confusion_matrix_test.csv",
        "per_class_test.csv",
        "confusion_matrix_test.png",
        "misclassified_test.png",
        "reliability_test.png",
    }
    rows = (tmp_path / "confusion_matrix_test.csv").read_text().splitlines()
    assert rows[0].split(",")[1:] == list(NAMES) and len(rows) == 11
    normalized = (tmp_path / "confusion_matrix_normalized_test.csv").read_text().splitlines()
    assert sum(float(v) for v in normalized[1].split(",")[1:]) == pytest.approx(1, abs=1e-3)
