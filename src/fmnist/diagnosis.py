"""The tutorials' questions about a run, answered from its folder: the diagnosis.

    >>> findings = diagnose("runs/20261124-101500-lean_cnn")
    >>> [(f["question"], f["verdict"]) for f in findings]     # verdict: ok | attention | unknown
    >>> print(format_diagnosis(findings))

Each rule reads the run folder alone (history, metrics, config, the pipeline record) and
answers one question in a sentence, with the evidence beside it and a suggestion where one
follows. Every threshold a rule uses is in RULES below, with its meaning, and the docs
(docs/training.md, "Diagnosis") list the same table. TensorFlow- and NumPy-free.
"""

from __future__ import annotations

import math
from pathlib import Path

from fmnist.errors import FmnistError
from fmnist.run_folder import RunFolder, evaluation_of, read_json_or_empty

# Every threshold of every rule, in one place (docs/training.md repeats this table).
RULES = {
    "rising_epochs": 3,  # overfitting: validation loss above its minimum this many epochs ...
    "rising_margin": 0.02,  # ... and ending this fraction above it, while training loss fell
    "gap": 0.05,  # overfitting: training accuracy above validation by more (5 points)
    "train_accuracy": 0.90,  # underfitting: training accuracy below this at the last epoch
    "still_rising": 0.002,  # constant rate: both accuracies gained this much over 2 epochs
    "spike": 1.25,  # unstable rate: an epoch's training loss 25% above the previous one
    "wasted_fraction": 0.3,  # wasted epochs: best epoch this share of the run before the end
    "wasted_minimum": 3,  # ... and at least this many epochs
    "weak_margin": 0.05,  # a weak class: recall this far below the overall accuracy
    "weak_pair_rate": 0.02,  # a pair worth naming: this share of the class taken for another
    "ece": 0.03,  # calibration: expected calibration error above this
    "balance": 1.5,  # balanced: the largest class at most this many times the smallest
}

MARKS = {"ok": "ok", "attention": "!!", "unknown": "? "}  # a verdict in the terminal

QUESTIONS = {
    "balance": "Are the classes balanced?",
    "normalise": "Do I need to normalise?",
    "fit": "Is it underfitting or overfitting?",
    "capacity": "Is the model too simple or too complex?",
    "learning_rate": "Is the learning rate right?",
    "epochs": "Are the epochs and batch size right?",
    "accuracy": "What is the accuracy; any class-specific weaknesses?",
    "loss": "Which loss is which?",
    "calibration": "Are its probabilities trustworthy?",
    "reload": "Does the reloaded model give the same results?",
    "test_set": "Did model choice see the test set?",
}


def finding(key, verdict, answer, evidence="", suggestion=None) -> dict:
    return {
        "key": key,
        "question": QUESTIONS[key],
        "verdict": verdict,  # ok | attention | unknown
        "answer": answer,
        "evidence": evidence,
        "suggestion": suggestion,
    }


def pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def plain_cross_entropy(history: dict, config: dict, validation: bool) -> list[float] | None:
    """Per-epoch cross-entropy against the true labels: the `crossentropy` metric a run with
    label smoothing records, or the loss itself where the loss had no smoothing; None for a
    label-smoothed run that did not record it (older runs)."""
    prefix = "val_" if validation else ""
    if history.get(f"{prefix}crossentropy"):
        return history[f"{prefix}crossentropy"]
    if not config.get("label_smoothing"):
        return history.get(f"{prefix}loss") or None
    return None


def check_fit(history: dict, metrics: dict, config: dict) -> dict:
    """Overfitting (validation loss rising while training loss falls, the gap stop, or a wide
    accuracy gap), underfitting (low training accuracy, or still rising at the end), or
    neither."""
    accuracy, val_accuracy = history.get("accuracy", []), history.get("val_accuracy", [])
    if not accuracy:
        return finding("fit", "unknown", "No training history in this run folder.")
    val_loss = (
        plain_cross_entropy(history, config, validation=True) or history.get("val_loss") or []
    )
    train_loss = plain_cross_entropy(history, config, validation=False) or history.get("loss", [])
    if metrics.get("stopped_by") == "overfitting_gap":
        epoch = len(accuracy)
        gap = accuracy[-1] - val_accuracy[-1]
        return finding(
            "fit",
            "attention",
            f"Overfitting: the gap stop ended training at epoch {epoch}.",
            f"training accuracy {pct(accuracy[-1])} against validation {pct(val_accuracy[-1])}"
            f" ({100 * gap:.1f} points apart)",
            "More regularisation (augmentation, dropout) or a smaller model.",
        )
    if val_loss:
        best = min(range(len(val_loss)), key=val_loss.__getitem__)
        rising = len(val_loss) - 1 - best
        grew = val_loss[-1] / val_loss[best] - 1 if val_loss[best] > 0 else 0.0
        fell = train_loss[-1] < train_loss[best]
        if rising >= RULES["rising_epochs"] and grew > RULES["rising_margin"] and fell:
            return finding(
                "fit",
                "attention",
                f"Overfitting from epoch {best + 2}: validation loss rose for {rising} epochs "
                "while training loss kept falling.",
                f"validation loss {val_loss[best]:.4f} at epoch {best + 1}, {val_loss[-1]:.4f} "
                f"at epoch {len(val_loss)} (+{100 * grew:.0f}%); training loss "
                f"{train_loss[best]:.4f} to {train_loss[-1]:.4f}",
                f"Stop near epoch {best + 1} (early stopping or the gap stop), or regularise "
                "(augmentation, dropout).",
            )
    if val_accuracy and accuracy[-1] - val_accuracy[-1] > RULES["gap"]:
        return finding(
            "fit",
            "attention",
            "Overfitting: training accuracy is well above validation accuracy.",
            f"training {pct(accuracy[-1])}, validation {pct(val_accuracy[-1])} at the last epoch",
            "More regularisation (augmentation, dropout) or a smaller model.",
        )
    if accuracy[-1] < RULES["train_accuracy"]:
        return finding(
            "fit",
            "attention",
            "Underfitting: the model does not yet fit even its training data.",
            f"training accuracy {pct(accuracy[-1])} at epoch {len(accuracy)}",
            "Train longer, or use a larger model (fmnist models lists them).",
        )
    if still_rising(history, config):
        return finding(
            "fit",
            "attention",
            "Underfitting: both curves were still rising at the last epoch.",
            f"validation accuracy {pct(val_accuracy[-3])} -> {pct(val_accuracy[-1])} over the "
            "last two epochs",
            "Train longer.",
        )
    evidence = f"training accuracy {pct(accuracy[-1])}"
    if val_accuracy:
        evidence += f", validation {pct(val_accuracy[-1])} at the last epoch"
    return finding("fit", "ok", "Neither: training and validation curves agree.", evidence)


def still_rising(history: dict, config: dict) -> bool:
    """Both accuracies still climbing over the last two epochs under a constant rate (under
    a decaying schedule the last epochs' gain comes from the annealing itself)."""
    accuracy, val_accuracy = history.get("accuracy", []), history.get("val_accuracy", [])
    if config.get("schedule", "constant") != "constant" or len(val_accuracy) < 3:
        return False
    step = RULES["still_rising"]
    return val_accuracy[-1] - val_accuracy[-3] > step and accuracy[-1] - accuracy[-3] > step


def check_capacity(fit: dict, metrics: dict) -> dict:
    params = metrics.get("params")
    size = f"{params:,} parameters" if params else "parameter count not recorded"
    if fit["verdict"] == "unknown":
        return finding("capacity", "unknown", "Unknown without a training history.", size)
    if fit["answer"].startswith("Overfitting"):
        return finding(
            "capacity",
            "attention",
            "Complex for the data as it was trained: it memorises training images.",
            size,
            "Regularise before making it larger.",
        )
    if fit["answer"].startswith("Underfitting: the model"):
        return finding(
            "capacity",
            "attention",
            "Possibly too simple, or trained too briefly.",
            size,
            "Train longer first; if training accuracy stays low, choose a larger model.",
        )
    return finding("capacity", "ok", "About right for this recipe: no sign of either.", size)


def check_learning_rate(history: dict, config: dict) -> dict:
    loss = history.get("loss", [])
    rate = f"peak rate {config.get('learning_rate', '?')}, schedule {config.get('schedule', '?')}"
    if len(loss) < 2:
        return finding("learning_rate", "unknown", "One epoch or none: too short to judge.", rate)
    if not all(math.isfinite(v) for v in loss) or (len(loss) > 1 and loss[-1] > loss[0]):
        return finding(
            "learning_rate",
            "attention",
            "Diverging: training loss ended above where it started (or became NaN).",
            f"training loss {loss[0]:.4f} at epoch 1, {loss[-1]:.4f} at epoch {len(loss)}; {rate}",
            "Lower the learning rate (by 3 to 10 times) or add warm-up.",
        )
    spikes = [e + 1 for e in range(1, len(loss)) if loss[e] > RULES["spike"] * loss[e - 1]]
    if spikes:
        return finding(
            "learning_rate",
            "attention",
            f"Unstable: training loss jumped at epoch {', '.join(map(str, spikes))}.",
            rate,
            "Lower the learning rate, or use a decaying schedule (cosine).",
        )
    return finding(
        "learning_rate",
        "ok",
        "Stable: training loss fell without spikes.",
        f"training loss {loss[0]:.4f} to {loss[-1]:.4f}; {rate}",
    )


def check_epochs(history: dict, metrics: dict, config: dict, fit: dict) -> dict:
    epochs = len(history.get("loss", []))
    best = metrics.get("best_epoch") or epochs
    batch = f"batch size {config.get('batch_size', '?')}"
    speed = metrics.get("train_images_per_s")
    if speed:
        batch += f", {speed:,.0f} training images/s"
    if not epochs:
        return finding("epochs", "unknown", "No training history.", batch)
    wasted = epochs - best
    if wasted >= max(RULES["wasted_minimum"], RULES["wasted_fraction"] * epochs):
        return finding(
            "epochs",
            "attention",
            f"Too many epochs: the best was epoch {best} of {epochs}; the last {wasted} "
            "added nothing.",
            f"{100 * wasted / epochs:.0f}% of the training time after the best epoch; {batch}",
            f"Train about {best + 1} epochs, or use early stopping (patience).",
        )
    if fit["answer"].startswith("Underfitting"):
        return finding(
            "epochs",
            "attention",
            "Too few: it was still improving when training ended.",
            f"best epoch {best} of {epochs}; {batch}",
            "Train more epochs.",
        )
    return finding("epochs", "ok", f"Fine: the best epoch was {best} of {epochs}.", batch)


def weak_classes(test: dict) -> list[str]:
    """The classes whose recall is well below the overall accuracy, weakest first, each
    with the classes it is mistaken for."""
    accuracy, per_class = test["accuracy"], test.get("per_class", {})
    names, confusion = list(per_class), test.get("confusion")
    weak = sorted(
        (v["recall"], name)
        for name, v in per_class.items()
        if v["recall"] < accuracy - RULES["weak_margin"]
    )
    lines = []
    for recall, name in weak:
        support = max(per_class[name]["support"], 1)
        if confusion:
            row = confusion[names.index(name)]
            pairs = [(row[j] / support, other) for j, other in enumerate(names) if other != name]
        else:  # an older evaluation: its ten most confused pairs only
            pairs = [
                (p["count"] / support, p["predicted"])
                for p in test.get("most_confused", [])
                if p["true"] == name
            ]
        taken = [
            f"{other} {pct(rate)}"
            for rate, other in sorted(pairs, reverse=True)[:3]
            if rate >= RULES["weak_pair_rate"]
        ]
        lines.append(
            f"{name} {pct(recall)}" + (f" (taken for {', '.join(taken)})" if taken else "")
        )
    return lines


def check_accuracy(test: dict, split: str) -> dict:
    if not test:
        return finding("accuracy", "unknown", "Not evaluated yet (fmnist evaluate).")
    accuracy = f"{pct(test['accuracy'])} on the {split} set"
    if test.get("tta"):
        accuracy += f" with flip TTA ({pct(test['accuracy_without_tta'])} without)"
    weak = weak_classes(test)
    if not weak:
        return finding("accuracy", "ok", f"{accuracy}; no class lags behind.", "")
    return finding(
        "accuracy",
        "attention",
        f"{accuracy}; weakest: {weak[0].split(' (')[0]}.",
        "recall of weak classes: " + "; ".join(weak),
        "Look at those cells of the confusion matrix: the images show what the model mixes up.",
    )


def check_calibration(test: dict, config: dict) -> dict:
    if not test or "calibration_bins" not in test:
        return finding("calibration", "unknown", "Not evaluated yet.")
    bins = test["calibration_bins"]
    total = sum(b["count"] for b in bins) or 1
    confidence = sum(b["count"] * b["confidence"] for b in bins) / total
    evidence = f"ECE {test['ece']:.3f}; mean confidence {pct(confidence)}"
    evidence += f" against accuracy {pct(test['accuracy'])}"
    if test["ece"] <= RULES["ece"]:
        return finding("calibration", "ok", "Yes: confidence matches accuracy.", evidence)
    if confidence < test["accuracy"]:
        smoothing = config.get("label_smoothing", 0)
        cause = (
            f" Label smoothing ({smoothing}) causes this: it trains the model to keep about "
            f"{pct(smoothing * 0.9)} of its probability for the other classes; the ranking, so "
            "the accuracy, is unaffected."
            if smoothing
            else ""
        )
        return finding(
            "calibration",
            "attention",
            "Under-confident: it is right more often than its probabilities say." + cause,
            evidence,
            "Read its probabilities as a ranking, or calibrate them (temperature scaling).",
        )
    return finding(
        "calibration",
        "attention",
        "Over-confident: its probabilities claim more than its accuracy.",
        evidence,
        "Label smoothing or temperature scaling, before trusting a probability.",
    )


def check_loss(history: dict, config: dict, best: int, val: dict) -> dict:
    smoothing = config.get("label_smoothing", 0)
    plain = plain_cross_entropy(history, config, validation=True)
    if not smoothing:
        return finding(
            "loss",
            "ok",
            "One loss throughout: plain cross-entropy in the curves and the tables alike.",
        )
    trained = history.get("val_loss", [])
    at = min(best, len(trained)) - 1
    evidence = f"validation loss as trained {trained[at]:.4f}" if trained else ""
    if plain:
        evidence += f", plain cross-entropy {plain[at]:.4f} at epoch {at + 1}"
    elif val.get("loss") is not None:
        evidence += f"; plain cross-entropy of the kept model {val['loss']:.4f}"
    return finding(
        "loss",
        "ok",
        f"Two: training minimises cross-entropy against labels smoothed by {smoothing}, which "
        "stays well above zero; the curves label it, while the tables and `fmnist runs compare` "
        "use plain cross-entropy, so runs with and without smoothing compare like with like.",
        evidence,
    )


def check_reload(pipeline: dict) -> dict:
    saved = pipeline.get("saved", [])
    if not saved:
        return finding(
            "reload",
            "unknown",
            "Not checked in this run.",
            "",
            "fmnist run checks every saved format; fmnist verify checks one file.",
        )
    bad = [s["file"] for s in saved if not s["ok"]]
    files = ", ".join(s["file"] for s in saved)
    worst = max(s["max_probability_difference"] for s in saved)
    evidence = f"{files}; largest probability difference {worst:.1e}"
    if bad:
        return finding(
            "reload",
            "attention",
            f"No: {', '.join(bad)} answered differently.",
            evidence,
            "Do not ship those files; see Saved files below.",
        )
    return finding(
        "reload", "ok", "Yes: every saved format reloaded with identical labels.", evidence
    )


def check_test_set(config: dict, metrics: dict) -> dict:
    if config.get("validate_on_test") or metrics.get("validated_on") == "test":
        return finding(
            "test_set",
            "attention",
            "Yes: the test set served as validation, so the best epoch was chosen on it and "
            "its test accuracy is optimistic.",
            "validate_on_test = true",
            "Validate on a split of the training set (val_fraction, the default).",
        )
    fraction = config.get("val_fraction", 0)
    if not fraction:
        return finding(
            "test_set",
            "ok",
            "No: nothing chose on held-out data (no validation).",
            "val_fraction = 0: the last epoch is kept",
        )
    return finding(
        "test_set",
        "ok",
        "No: epochs and the kept model were chosen on a validation split; the test set was "
        "used once, for the final figures.",
        f"val_fraction = {fraction}",
    )


def check_balance(folder: RunFolder, test: dict) -> dict:
    stats = read_json_or_empty(folder.explore / "stats.json")
    if stats:
        counts = stats["splits"]["train"]["classes"]["counts"]
        where = "training set"
    elif test.get("per_class"):
        counts = {name: v["support"] for name, v in test["per_class"].items()}
        where = "test set"
    else:
        return finding("balance", "unknown", "No class counts in this run folder.")
    low, high = min(counts.values()), max(counts.values())
    evidence = f"{where}: {low:,} to {high:,} images a class"
    if low and high / low <= RULES["balance"]:
        return finding("balance", "ok", "Yes: plain accuracy is a fair summary.", evidence)
    return finding(
        "balance",
        "attention",
        "No: accuracy flatters the common classes.",
        evidence,
        "Read per-class recall and macro F1; consider class weights.",
    )


def check_normalise(metrics: dict) -> dict:
    layers = metrics.get("layers", [])
    if not layers:
        return finding("normalise", "unknown", "The model's layers were not recorded.")
    scaling = [layer for layer in layers if layer["type"] in ("Rescaling", "Normalization")]
    if scaling:
        return finding(
            "normalise",
            "ok",
            "No: the model scales raw 0-255 pixels itself, so every caller feeds raw pixels.",
            f"first layer after the input: {scaling[0]['name']} ({scaling[0]['type']})",
        )
    return finding(
        "normalise",
        "attention",
        "Yes: the model has no scaling layer and sees raw 0-255 values.",
        "",
        "Add a Rescaling layer at the input.",
    )


def diagnose(run_dir: Path | str) -> list[dict]:
    """Every question answered for the run in `run_dir`, in the tutorials' order."""
    folder = RunFolder(run_dir)
    if not folder.is_run:
        raise FmnistError(f"{folder.path}: not a run folder (no {folder.config_path.name})")
    config = folder.read_record().get("config", {})
    metrics, history = folder.read_metrics(), folder.read_history()
    test, val = evaluation_of(metrics, "test"), evaluation_of(metrics, "val")
    fit = check_fit(history, metrics, config)
    best = metrics.get("best_epoch") or len(history.get("loss", [])) or 1
    return [
        check_balance(folder, test),
        check_normalise(metrics),
        fit,
        check_capacity(fit, metrics),
        check_learning_rate(history, config),
        check_epochs(history, metrics, config, fit),
        check_accuracy(test or val, "test" if test else "validation"),
        check_loss(history, config, best, val),
        check_calibration(test, config),
        check_reload(folder.read_pipeline()),
        check_test_set(config, metrics),
    ]


def format_diagnosis(findings: list[dict]) -> str:
    """The diagnosis for the terminal: a mark, the question, the answer and its evidence."""
    lines = []
    for f in findings:
        lines.append(f"{MARKS[f['verdict']]} {f['question']} {f['answer']}")
        if f["evidence"]:
            lines.append(f"     evidence: {f['evidence']}")
        if f["suggestion"]:
            lines.append(f"     suggestion: {f['suggestion']}")
    return "\n".join(lines)
