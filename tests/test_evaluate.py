"""Metrics against references the code does not use (a case worked by hand, and Keras'
own metrics on fabricated predictions); files the evaluation writes."""

import json

import numpy as np
import pytest

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


def test_metrics_of_a_case_worked_by_hand():
    """Four images of three classes; every figure below worked out on paper."""
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4], [0.15, 0.8, 0.05], [0.2, 0.3, 0.5]])
    labels = np.array([0, 0, 1, 2])  # answered a, b, b, c: the second is wrong
    metrics, confusion = compute_metrics(probabilities, labels, ("a", "b", "c"))
    assert metrics["accuracy"] == pytest.approx(3 / 4)
    assert metrics["top2_accuracy"] == pytest.approx(3 / 4)  # the second's top two: b, c
    assert metrics["loss"] == pytest.approx(-np.mean(np.log([0.7, 0.1, 0.8, 0.5])))
    per_class = metrics["per_class"]
    # a: 1 of its 2 found, nothing else taken for it; b: its 1 found, plus one a taken for b
    assert (per_class["a"]["precision"], per_class["a"]["recall"]) == (1.0, 0.5)
    assert (per_class["b"]["precision"], per_class["b"]["recall"]) == (0.5, 1.0)
    assert per_class["a"]["f1"] == pytest.approx(2 / 3) == per_class["b"]["f1"]
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert confusion.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert metrics["most_confused"] == [{"true": "a", "predicted": "b", "count": 1}]


def test_metrics_equal_keras_own(fabricated):
    import keras

    probabilities, labels = fabricated
    metrics, confusion = compute_metrics(probabilities, labels, NAMES)
    one_hot = np.eye(10, dtype=np.float32)[labels]
    answered = np.eye(10, dtype=np.float32)[probabilities.argmax(axis=1)]
    as_given = probabilities.astype(np.float32)

    def keras_metric(metric, truth=one_hot, predicted=as_given):
        metric.update_state(truth, predicted)
        return float(metric.result())

    assert metrics["accuracy"] == pytest.approx(keras_metric(keras.metrics.CategoricalAccuracy()))
    top2 = keras_metric(keras.metrics.TopKCategoricalAccuracy(k=2))
    assert metrics["top2_accuracy"] == pytest.approx(top2)
    loss = keras_metric(keras.metrics.CategoricalCrossentropy())
    assert metrics["loss"] == pytest.approx(loss, rel=1e-5)
    f1 = keras_metric(keras.metrics.F1Score(average="macro"), predicted=answered)
    assert metrics["macro_f1"] == pytest.approx(f1, rel=1e-5)
    for k, name in enumerate(NAMES):
        row = metrics["per_class"][name]
        precision = keras_metric(keras.metrics.Precision(class_id=k), predicted=answered)
        recall = keras_metric(keras.metrics.Recall(class_id=k), predicted=answered)
        assert (row["precision"], row["recall"]) == pytest.approx((precision, recall), rel=1e-5)
        assert row["support"] == int((labels == k).sum()) == confusion[k].sum()


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
