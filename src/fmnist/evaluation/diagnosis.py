"""The tutorials' questions about a run, answered from its folder: the diagnosis.

    >>> findings = diagnose(Run.load("runs/20261124-101500-lean_cnn"))   # doctest: +SKIP
    >>> [(f["question"], f["verdict"]) for f in findings]  # doctest: +SKIP
    >>> print(format_diagnosis(findings))  # doctest: +SKIP

Each rule reads the run's typed records (`fmnist.run_folder.Run`: curves, metrics, config,
the pipeline and photo records) and answers one question in a sentence, with the evidence
beside it and a suggestion where one follows. Every threshold a rule uses is in RULES
(`fmnist.evaluation.findings`), with its meaning, and the docs (docs/training.md,
"Diagnosis") list the same table.
TensorFlow- and NumPy-free.
"""

from __future__ import annotations

from pathlib import Path

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
from fmnist.inference.answers import tta_name
from fmnist.run_folder import (
    Curves,
    Evaluation,
    Metrics,
    Photos,
    Pipeline,
    Run,
    RunFolder,
    read_json_or_empty,
)
from fmnist.training.config import TrainConfig, stored_config


def weak_classes(test: Evaluation) -> list[str]:
    """The classes whose recall is well below the overall accuracy, weakest first, each
    with the classes it is mistaken for."""
    per_class = test.per_class
    names, confusion = list(per_class), test.confusion
    weak = sorted(
        (v.recall, name)
        for name, v in per_class.items()
        if v.recall < test.accuracy - RULES["weak_margin"]
    )
    lines = []
    for recall, name in weak:
        support = max(per_class[name].support, 1)
        if confusion:
            row = confusion[names.index(name)]
            pairs = [(row[j] / support, other) for j, other in enumerate(names) if other != name]
        else:  # an older evaluation: its ten most confused pairs only
            pairs = [(p.count / support, p.predicted) for p in test.most_confused if p.true == name]
        taken = [
            f"{other} {pct(rate)}"
            for rate, other in sorted(pairs, reverse=True)[:3]
            if rate >= RULES["weak_pair_rate"]
        ]
        lines.append(
            f"{name} {pct(recall)}" + (f" (taken for {', '.join(taken)})" if taken else "")
        )
    return lines


def check_accuracy(test: Evaluation | None, split: str) -> dict:
    if test is None or test.accuracy is None:
        return finding("accuracy", "unknown", "Not evaluated yet (fmnist evaluate).")
    accuracy = f"{pct(test.accuracy)} on the {split} set"
    if test.tta:
        accuracy += f" with {tta_name(test.tta)} ({pct(test.plain_accuracy)} without)"
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


def check_calibration(test: Evaluation | None, config: TrainConfig) -> dict:
    if test is None or not test.calibration_bins or test.ece is None:
        return finding("calibration", "unknown", "Not evaluated yet.")
    bins = test.calibration_bins
    total = sum(b.count for b in bins) or 1
    confidence = sum(b.count * b.confidence for b in bins) / total
    evidence = f"ECE {test.ece:.3f}; mean confidence {pct(confidence)}"
    evidence += f" against accuracy {pct(test.accuracy)}"
    if test.ece <= RULES["ece"]:
        return finding("calibration", "ok", "Yes: confidence matches accuracy.", evidence)
    if confidence < test.accuracy:
        smoothing = config.label_smoothing
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


def check_loss(curves: Curves, config: TrainConfig, best: int, val: Evaluation | None) -> dict:
    smoothing = config.label_smoothing
    plain = plain_cross_entropy(curves, smoothing, validation=True)
    if not smoothing:
        return finding(
            "loss",
            "ok",
            "One loss throughout: plain cross-entropy in the curves and the tables alike.",
        )
    trained = curves.val_loss
    at = min(best, len(trained)) - 1
    evidence = f"validation loss as trained {trained[at]:.4f}" if trained else ""
    if plain:
        evidence += f", plain cross-entropy {plain[at]:.4f} at epoch {at + 1}"
    elif val is not None and val.loss is not None:
        evidence += f"; plain cross-entropy of the kept model {val.loss:.4f}"
    return finding(
        "loss",
        "ok",
        f"Two: training minimises cross-entropy against labels smoothed by {smoothing}, which "
        "stays well above zero; the curves label it, while the tables and `fmnist runs compare` "
        "use plain cross-entropy, so runs with and without smoothing compare like with like.",
        evidence,
    )


def check_reload(pipeline: Pipeline) -> dict:
    saved = pipeline.saved
    if not saved:
        return finding(
            "reload",
            "unknown",
            "Not checked in this run.",
            "",
            "fmnist run checks every saved format; fmnist verify checks one file.",
        )
    bad = [s.file for s in saved if not s.ok]
    files = ", ".join(s.file for s in saved)
    worst = max(s.max_probability_difference for s in saved)
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


def check_test_set(config: TrainConfig, metrics: Metrics) -> dict:
    if config.validate_on_test or metrics.validated_on == "test":
        return finding(
            "test_set",
            "attention",
            "Yes: the test set served as validation, so the best epoch was chosen on it and "
            "its test accuracy is optimistic.",
            "validate_on_test = true",
            "Validate on a split of the training set (val_fraction, the default).",
        )
    fraction = config.val_fraction
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


def check_balance(folder: RunFolder, test: Evaluation | None) -> dict:
    stats = read_json_or_empty(folder.exploration[0])  # the exploration's own statistics
    if stats:
        counts = stats["splits"]["train"]["classes"]["counts"]
        where = "training set"
    elif test is not None and test.per_class:
        counts = {name: v.support for name, v in test.per_class.items()}
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


def check_normalise(metrics: Metrics) -> dict:
    if not metrics.layers:
        return finding("normalise", "unknown", "The model's layers were not recorded.")
    scaling = [layer for layer in metrics.layers if layer.type in ("Rescaling", "Normalization")]
    if scaling:
        return finding(
            "normalise",
            "ok",
            "No: the model scales raw 0-255 pixels itself, so every caller feeds raw pixels.",
            f"first layer after the input: {scaling[0].name} ({scaling[0].type})",
        )
    return finding(
        "normalise",
        "attention",
        "Yes: the model has no scaling layer and sees raw 0-255 values.",
        "",
        "Add a Rescaling layer at the input.",
    )


def check_photos(photos: Photos, test: Evaluation | None) -> dict:
    """For a run that learned photos: do its held-out photos lag the test set, and where."""
    overall, folders = photos.after.overall, photos.after.folders
    rates = {n: s.share(s.top1) for n, s in folders.items() if s.top1 is not None}
    if not rates:  # every held-out photo is out of class: nothing to score top-1 on
        return finding("photos", "ok", "No held-out photo has a class to score.", "")
    weakest = min(rates, key=rates.get)
    sure = overall.sure_accuracy
    evidence = (
        f"held-out photos top-1 {pct(overall.top1)} (top-3 {pct(overall.top3)}), "
        f"weakest folder {weakest} {pct(rates[weakest])}; "
        + (f"sure answers right {pct(sure)}; " if sure is not None else "")
        + f"not sure flags {pct(overall.in_class_flagged)} of in-class photos"
        + (
            f", {pct(overall.out_of_class_flagged)} of out-of-class ones"
            if overall.out_of_class_flagged is not None
            else ""
        )
    )
    accuracy = test.accuracy if test is not None else None
    if accuracy is not None and overall.top1 < accuracy - RULES["photo_lag"]:
        return finding(
            "photos",
            "attention",
            f"Photos lag: {pct(overall.top1)} top-1 against {pct(accuracy)} on the test "
            f"set, weakest on {weakest}.",
            evidence,
            f"More labelled photos of {weakest}; bench/photos.py scores any folder.",
        )
    return finding("photos", "ok", "About as good as on the test set.", evidence)


def diagnose(run: Run | Path | str) -> list[dict]:
    """Every question answered for a run (its records, or its folder), in the tutorials'
    order."""
    run = run if isinstance(run, Run) else Run.load(run)
    config, metrics, curves = stored_config(run.config), run.metrics, run.curves
    test, val = metrics.split("test"), metrics.split("val")
    fit = judged_by_intent(check_fit(curves, metrics, config), config)
    if run.photos is not None and fit["evidence"]:  # the curves end where photo learning began
        after = run.photos.val_accuracy_after
        fit["evidence"] += " of training, before photo learning" + (
            f" (validation after it: {100 * after:.1f}%)" if after is not None else ""
        )
    best = metrics.best_epoch or curves.epochs or 1
    return [
        check_balance(run.folder, test),
        check_normalise(metrics),
        fit,
        check_capacity(fit, metrics),
        check_learning_rate(curves, config, run.state),
        check_epochs(curves, metrics, config, fit),
        check_accuracy(test or val, "test" if test else "validation"),
        check_loss(curves, config, best, val),
        check_calibration(test, config),
        check_reload(run.pipeline),
        check_test_set(config, metrics),
        *([check_photos(run.photos, test)] if run.photos else []),
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
