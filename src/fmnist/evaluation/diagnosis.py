"""The tutorials' questions about a run, answered from its folder: the diagnosis.

    >>> findings = diagnose("runs/20261124-101500-lean_cnn")
    >>> [(f["question"], f["verdict"]) for f in findings]     # verdict: ok | attention | unknown
    >>> print(format_diagnosis(findings))

Each rule reads the run folder alone (history, metrics, config, the pipeline record) and
answers one question in a sentence, with the evidence beside it and a suggestion where one
follows. Every threshold a rule uses is in RULES (`fmnist.evaluation.findings`), with its
meaning, and the docs (docs/training.md, "Diagnosis") list the same table.
TensorFlow- and NumPy-free.
"""

from __future__ import annotations

from pathlib import Path

from fmnist.errors import FmnistError
from fmnist.evaluation.findings import (
    MARKS,
    QUESTIONS,
    REFERENCES,
    RULES,
    finding,
    pct,
)
from fmnist.evaluation.training_checks import (
    check_capacity,
    check_epochs,
    check_fit,
    check_learning_rate,
    judged_by_intent,
    plain_cross_entropy,
)
from fmnist.inference.answers import tta_level, tta_name
from fmnist.run_folder import RunFolder, evaluation_of, read_json_or_empty


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
        plain = pct(test["accuracy_without_tta"])
        accuracy += f" with {tta_name(tta_level(test))} ({plain} without)"
    weak = weak_classes(test)
    compared = "compared with " + ", ".join(
        f"{pct(value)} for {what}" for what, value in REFERENCES
    )
    if not weak:
        return finding("accuracy", "ok", f"{accuracy}; no class lags behind.", compared)
    return finding(
        "accuracy",
        "attention",
        f"{accuracy}; weakest: {weak[0].split(' (')[0]}.",
        f"{compared}; recall of weak classes: " + "; ".join(weak),
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
    stats = read_json_or_empty(folder.exploration[0])
    if stats:
        counts = stats["splits"]["train"]["classes"]["counts"]
        where = "training set"
    elif test.get("per_class"):
        counts = {name: v["support"] for name, v in test["per_class"].items()}
        where = "test set"
    else:
        return finding("balance", "unknown", "No class counts in this run folder.")
    low, high = min(counts.values()), max(counts.values())
    spread = f"{low:,} images in each class" if low == high else f"{low:,} to {high:,} a class"
    evidence = f"{where}: {spread}"
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


def check_photos(photos: dict, test: dict) -> dict:
    """For a run that learned photos: do its held-out photos lag the test set, and where."""
    after = photos["held_out_scores"]["after"]
    overall, folders = after["overall"], after["folders"]
    rates = {n: s["top1"] / s["photos"] for n, s in folders.items() if s.get("top1") is not None}
    if not rates:  # every held-out photo is out of class: nothing to score top-1 on
        return finding("photos", "ok", "No held-out photo has a class to score.", "")
    weakest = min(rates, key=rates.get)
    sure = overall.get("sure_accuracy")
    evidence = (
        f"held-out photos top-1 {pct(overall['top1'])} (top-3 {pct(overall['top3'])}), "
        f"weakest folder {weakest} {pct(rates[weakest])}; "
        + (f"sure answers right {pct(sure)}; " if sure is not None else "")
        + f"not sure flags {pct(overall.get('in_class_flagged'))} of in-class photos"
        + (
            f", {pct(overall['out_of_class_flagged'])} of out-of-class ones"
            if overall.get("out_of_class_flagged") is not None
            else ""
        )
    )
    accuracy = test.get("accuracy")
    if accuracy is not None and overall["top1"] < accuracy - RULES["photo_lag"]:
        return finding(
            "photos",
            "attention",
            f"Photos lag: {pct(overall['top1'])} top-1 against {pct(accuracy)} on the test "
            f"set, weakest on {weakest}.",
            evidence,
            f"More labelled photos of {weakest}; bench/photos.py scores any folder.",
        )
    return finding("photos", "ok", "About as good as on the test set.", evidence)


def diagnose(run_dir: Path | str) -> list[dict]:
    """Every question answered for the run in `run_dir`, in the tutorials' order."""
    folder = RunFolder(run_dir)
    if not folder.is_run:
        raise FmnistError(f"{folder.path}: not a run folder (no {folder.config_path.name})")
    config = folder.read_record().get("config", {})
    metrics, history = folder.read_metrics(), folder.read_history()
    test, val = evaluation_of(metrics, "test"), evaluation_of(metrics, "val")
    fit = judged_by_intent(check_fit(history, metrics, config), config)
    best = metrics.get("best_epoch") or len(history.get("loss", [])) or 1
    photos = folder.read_photos()
    return [
        check_balance(folder, test),
        check_normalise(metrics),
        fit,
        check_capacity(fit, metrics),
        check_learning_rate(history, config, folder.read_state()),
        check_epochs(history, metrics, config, fit),
        check_accuracy(test or val, "test" if test else "validation"),
        check_loss(history, config, best, val),
        check_calibration(test, config),
        check_reload(folder.read_pipeline()),
        check_test_set(config, metrics),
        *([check_photos(photos, test)] if photos else []),
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


__all__ = [
    "MARKS",
    "QUESTIONS",
    "RULES",
    "diagnose",
    "format_diagnosis",
    "plain_cross_entropy",
]
