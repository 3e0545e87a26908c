"""The diagnosis rules on built run folders: each history gets its verdict, a healthy one none."""

import math

import pytest
from click.testing import CliRunner

from fmnist.cli import main
from fmnist.errors import FmnistError
from fmnist.evaluation.diagnosis import RULES, diagnose, format_diagnosis
from fmnist.run_folder import RunFolder, RunState

NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]


def curve(start, end, n):
    return [start + (end - start) * k / (n - 1) for k in range(n)]


def healthy_history(n=10):
    """Both losses falling, accuracies close and levelling off: nothing to flag."""
    return {
        "loss": curve(0.6, 0.2, n),
        "accuracy": curve(0.80, 0.93, n),
        "val_loss": curve(0.5, 0.25, n),
        "val_accuracy": curve(0.82, 0.92, n),
        "learning_rate": curve(1e-3, 1e-5, n),
    }


def an_evaluation(accuracy=0.9):
    """A test-set evaluation of five balanced classes; Pullover weak (taken for Coat)."""
    confusion = [
        [95, 0, 2, 2, 1],
        [0, 99, 0, 1, 0],
        [3, 0, 70, 2, 25],
        [2, 1, 1, 95, 1],
        [1, 0, 8, 1, 90],
    ]
    recall = [row[k] / 100 for k, row in enumerate(confusion)]
    return {
        "accuracy": accuracy,
        "loss": 0.3,
        "per_class": {
            n: {"precision": r, "recall": r, "f1": r, "support": 100}
            for n, r in zip(NAMES, recall, strict=True)
        },
        "confusion": confusion,
        "most_confused": [{"true": "Pullover", "predicted": "Coat", "count": 25}],
        "ece": 0.01,
        "calibration_bins": [
            {"low": 0.8, "high": 1.0, "count": 500, "accuracy": 0.9, "confidence": 0.9}
        ],
    }


def make_run(tmp_path, history, config=None, metrics=None, name="run"):
    run = RunFolder.create(tmp_path, name)
    config = {"model": "mlp", "schedule": "cosine", "val_fraction": 0.1, **(config or {})}
    run.write_record({"config": config})
    run.write_state(RunState(status="finished", epochs_done=len(history["loss"])))
    run.write_history(history)
    best = 1 + max(range(len(history["val_accuracy"])), key=history["val_accuracy"].__getitem__)
    layers = [{"name": "scale", "type": "Rescaling", "output": "?x28x28x1", "params": 0}]
    run.write_metrics(
        {
            "model": "mlp",
            "params": 1000,
            "layers": layers,
            "epochs_run": len(history["loss"]),
            "best_epoch": best,
            "stopped_by": "epochs",
            "evaluation": {"test": an_evaluation()},
            **(metrics or {}),
        }
    )
    return run.path


def verdicts(run_dir):
    return {f["key"]: f for f in diagnose(run_dir)}


def test_a_healthy_run_is_not_flagged(tmp_path):
    found = verdicts(make_run(tmp_path, healthy_history()))
    for key in ("fit", "capacity", "learning_rate", "epochs", "test_set", "normalise"):
        assert found[key]["verdict"] == "ok", found[key]
    assert found["fit"]["answer"].startswith("Neither")
    assert found["reload"]["verdict"] == "unknown"  # no pipeline record: said, not guessed


def test_overfitting_is_found_from_the_epoch_validation_loss_turned(tmp_path):
    history = healthy_history(20)
    history["val_loss"] = curve(0.6, 0.30, 6) + curve(0.31, 0.55, 14)  # minimum at epoch 6
    history["loss"] = curve(0.6, 0.05, 20)
    found = verdicts(make_run(tmp_path, history))
    assert found["fit"]["verdict"] == "attention"
    assert found["fit"]["answer"].startswith("Overfitting from epoch 7:")
    assert "validation loss rose for 14 epochs" in found["fit"]["answer"]
    assert "0.3000 at epoch 6" in found["fit"]["evidence"]
    assert found["capacity"]["verdict"] == "attention"


def test_the_gap_stop_is_overfitting(tmp_path):
    history = healthy_history(4)
    history["accuracy"][-1] = 0.99
    run = make_run(tmp_path, history, metrics={"stopped_by": "overfitting_gap"})
    fit = verdicts(run)["fit"]
    assert fit["answer"] == "Overfitting: the gap stop ended training at epoch 4."
    assert "7.0 points apart" in fit["evidence"]


def test_a_wide_accuracy_gap_is_overfitting(tmp_path):
    history = healthy_history()
    history["accuracy"] = curve(0.8, 0.92 + RULES["gap"] + 0.01, 10)
    assert verdicts(make_run(tmp_path, history))["fit"]["answer"].startswith("Overfitting:")


def test_low_training_accuracy_is_underfitting(tmp_path):
    history = healthy_history()
    history["accuracy"] = curve(0.5, 0.85, 10)
    history["val_accuracy"] = curve(0.5, 0.84, 10)
    found = verdicts(make_run(tmp_path, history))
    assert found["fit"]["answer"].startswith("Underfitting: the model does not yet fit")
    assert found["capacity"]["answer"].startswith("Possibly too simple")


def test_still_rising_under_a_constant_rate_says_train_longer(tmp_path):
    history = healthy_history()
    history["accuracy"] = curve(0.85, 0.95, 10)
    history["val_accuracy"] = curve(0.84, 0.93, 10)
    constant = verdicts(make_run(tmp_path, history, {"schedule": "constant"}, name="a"))
    assert (
        constant["fit"]["answer"]
        == "Underfitting: both curves were still rising at the last epoch."
    )
    assert constant["epochs"]["suggestion"] == "Train more epochs."
    # Under a decaying schedule the same end is the annealing, not a reason to train longer.
    assert verdicts(make_run(tmp_path, history, name="b"))["fit"]["verdict"] == "ok"


def test_divergence_and_spikes_blame_the_learning_rate(tmp_path):
    diverged = healthy_history()
    diverged["loss"] = [
        0.6,
        0.5,
        0.9,
        2.5,
        math.nan,
        math.nan,
        math.nan,
        math.nan,
        math.nan,
        math.nan,
    ]
    found = verdicts(make_run(tmp_path, diverged, name="a"))["learning_rate"]
    assert found["verdict"] == "attention" and found["answer"].startswith("Diverging")
    spiky = healthy_history()
    spiky["loss"][4] = spiky["loss"][3] * (RULES["spike"] + 0.1)
    found = verdicts(make_run(tmp_path, spiky, name="b"))["learning_rate"]
    assert found["answer"] == "Unstable: training loss jumped at epoch 5."


def test_a_best_epoch_far_from_the_last_wastes_epochs(tmp_path):
    history = healthy_history(20)
    history["val_accuracy"] = curve(0.8, 0.92, 8) + [0.915] * 12  # best: epoch 8
    found = verdicts(make_run(tmp_path, history))["epochs"]
    assert found["answer"].startswith("Too many epochs: the best was epoch 8 of 20; the last 12")


def test_weak_classes_name_what_they_are_taken_for(tmp_path):
    found = verdicts(make_run(tmp_path, healthy_history()))["accuracy"]
    assert found["answer"] == "90.0% on the test set; weakest: Pullover 70.0%."
    assert found["evidence"].startswith("compared with 88.9% for the tutorial CNN")
    assert found["evidence"].endswith(
        "; recall of weak classes: Pullover 70.0% "
        "(taken for Coat 25.0%, T-shirt/top 3.0%, Dress 2.0%)"
    )


def test_label_smoothing_explains_under_confidence_and_the_two_losses(tmp_path):
    history = {
        **healthy_history(),
        "crossentropy": curve(0.5, 0.1, 10),
        "val_crossentropy": curve(0.4, 0.2, 10),
    }
    evaluation = {**an_evaluation(), "ece": 0.08}
    evaluation["calibration_bins"] = [
        {"low": 0.8, "high": 1.0, "count": 500, "accuracy": 0.9, "confidence": 0.82}
    ]
    run = make_run(
        tmp_path, history, {"label_smoothing": 0.1}, {"evaluation": {"test": evaluation}}
    )
    found = verdicts(run)
    assert found["calibration"]["answer"].startswith("Under-confident")
    assert "Label smoothing (0.1) causes this" in found["calibration"]["answer"]
    assert "plain cross-entropy 0.2000 at epoch 10" in found["loss"]["evidence"]
    # The overfitting rule reads plain cross-entropy, not the smoothed loss.
    assert found["fit"]["verdict"] == "ok"


def test_validating_on_the_test_set_is_flagged(tmp_path):
    run = make_run(tmp_path, healthy_history(), {"validate_on_test": True})
    assert verdicts(run)["test_set"]["verdict"] == "attention"


def test_failed_reloads_are_flagged(tmp_path):
    run = make_run(tmp_path, healthy_history())
    saved = [
        {"file": "model.keras", "bytes": 9, "ok": True, "max_probability_difference": 0.0},
        {"file": "model.h5", "bytes": 9, "ok": False, "max_probability_difference": 0.4},
    ]
    RunFolder(run).write_pipeline({"saved": saved})
    found = verdicts(run)["reload"]
    assert (
        found["verdict"] == "attention" and found["answer"] == "No: model.h5 answered differently."
    )


def test_report_diagnose_prints_in_the_terminal(tmp_path):
    run = make_run(tmp_path, healthy_history())
    result = CliRunner().invoke(main, ["report", str(run), "--diagnose"])
    assert result.exit_code == 0
    assert result.output.strip() == format_diagnosis(diagnose(run))
    assert "ok Is it underfitting or overfitting? Neither" in result.output
    assert not (run / "report.html").exists()  # reading only
    missing = CliRunner().invoke(main, ["report", str(tmp_path), "--diagnose"])
    assert missing.exit_code != 0 and "not a run folder" in missing.output


def test_diagnose_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(FmnistError, match="not a run folder"):
        diagnose(tmp_path)


def test_the_docs_list_every_rule_with_its_value():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text()
    for key, value in RULES.items():
        assert f"| `{key}` | {value} |" in docs, key


def test_a_recipe_built_for_time_is_judged_by_its_aim():
    from fmnist.evaluation.training_checks import (
        check_capacity,
        check_epochs,
        check_fit,
        judged_by_intent,
    )
    from fmnist.run_folder import Curves, Metrics
    from fmnist.training.config import make_config

    history = Curves(accuracy=[0.84], val_accuracy=[0.86], loss=[0.9], val_loss=[0.8])
    metrics = Metrics(best_epoch=1, params=61_000)
    values = {"model": "fast_cnn", "epochs": 0.7, "schedule": "cosine", "batch_size": 128}
    fast = make_config(values)
    fit = check_fit(history, metrics, fast)
    assert fit["kind"] == "underfitting"  # what a plain reading says
    judged = judged_by_intent(fit, fast)
    assert (judged["verdict"], judged["kind"]) == ("ok", "by_design")
    assert "built for time" in judged["answer"] and "fmnist train" in judged["suggestion"]
    assert check_capacity(judged, metrics)["verdict"] == "ok"
    assert check_epochs(history, metrics, fast, judged)["verdict"] == "ok"
    # trained longer than its recipe, or another model: judged as any run
    assert judged_by_intent(fit, make_config({**values, "epochs": 3})) == fit
    assert judged_by_intent(fit, make_config({**values, "model": "cnn"})) == fit
