"""Measure a trained model honestly: metrics, confusion, the classes it mixes up, calibration.

    >>> result = evaluate_model(model, images, labels, CLASS_NAMES)  # doctest: +SKIP
    >>> result.metrics["accuracy"], result.metrics["macro_f1"]  # doctest: +SKIP
    >>> write_evaluation(result, "runs/x", split="test")  # JSON, CSVs and figures  # doctest: +SKIP

The metrics are pure functions of the predicted probabilities, so they are tested
against scikit-learn on fabricated predictions.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist.inference.answers import answer_probabilities, forward_function, tta_level, tta_name
from fmnist.plots import (
    confusion_matrix_figure,
    misclassified_gallery,
    reliability_diagram,
    save_figure,
)
from fmnist.run_folder import (
    EVALUATION_TABLES,
    RunFolder,
    atomic_open,
    atomic_path,
    records,
    resolve_model_path,
)
from fmnist.terminal import render_table

CALIBRATION_BINS = 15
EXAMPLES_PER_CELL = 12  # images kept for each confusion-matrix cell
CONFIDENT_MISTAKES = 24  # the most confident mistakes, kept whichever cells they fall in


def select_examples(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Indices of the images the report shows: for every (true, predicted) cell its most
    confident answers (up to EXAMPLES_PER_CELL), plus the most confident mistakes overall."""
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    order = np.argsort(-confidence, kind="stable")
    chosen, per_cell = [], {}
    for k in order:
        cell = (int(labels[k]), int(predicted[k]))
        if per_cell.get(cell, 0) < EXAMPLES_PER_CELL:
            per_cell[cell] = per_cell.get(cell, 0) + 1
            chosen.append(k)
    mistakes = order[predicted[order] != labels[order]][:CONFIDENT_MISTAKES]
    return np.union1d(np.asarray(chosen, dtype=np.int64), mistakes)


@dataclass
class Evaluation:
    metrics: dict  # JSON-ready
    confusion: np.ndarray  # (classes, classes) counts, rows = true class
    probabilities: np.ndarray  # (N, classes)
    labels: np.ndarray  # (N,)
    images: np.ndarray  # (N, 28, 28) raw pixels, for the gallery
    class_names: tuple


def most_confused(confusion: np.ndarray, class_names, top: int = 10) -> list[dict]:
    """The off-diagonal cells with the most images: true class taken for predicted class."""
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1][:top]
    pairs = []
    for flat in order:
        true, predicted = np.unravel_index(flat, off.shape)
        if off[true, predicted] == 0:
            break
        pairs.append(
            {
                "true": class_names[true],
                "predicted": class_names[predicted],
                "count": int(off[true, predicted]),
            }
        )
    return pairs


def calibration(probabilities: np.ndarray, labels: np.ndarray, bins: int = CALIBRATION_BINS):
    """Expected calibration error over equal-width confidence bins, and the bins themselves."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        accuracy = float(correct[members].mean()) if count else 0.0
        mean_confidence = float(confidence[members].mean()) if count else 0.0
        ece += count / len(labels) * abs(accuracy - mean_confidence)
        table.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": count,
                "accuracy": accuracy,
                "confidence": mean_confidence,
            }
        )
    return float(ece), table


def compute_metrics(probabilities: np.ndarray, labels: np.ndarray, class_names) -> tuple:
    """(metrics dict, confusion matrix) from probabilities (N, classes) and true labels."""
    from sklearn.metrics import (
        confusion_matrix,
        log_loss,
        precision_recall_fscore_support,
        top_k_accuracy_score,
    )

    n = len(class_names)
    labels = np.asarray(labels).astype(int)
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=range(n), zero_division=0
    )
    confusion = confusion_matrix(labels, predicted, labels=range(n))
    ece, bins = calibration(probabilities, labels)
    metrics = {
        "images": len(labels),
        "loss": float(log_loss(labels, probabilities, labels=range(n))),
        "accuracy": float(np.mean(predicted == labels)),
        "top2_accuracy": float(top_k_accuracy_score(labels, probabilities, k=2, labels=range(n))),
        "macro_f1": float(np.mean(f1)),
        "per_class": {
            name: {
                "precision": float(precision[k]),
                "recall": float(recall[k]),
                "f1": float(f1[k]),
                "support": int(support[k]),
            }
            for k, name in enumerate(class_names)
        },
        "most_confused": most_confused(confusion, class_names),
        "confusion": confusion.tolist(),  # rows: true class, columns: predicted
        "ece": ece,
        "calibration_bins": bins,
    }
    return metrics, confusion


def evaluate_model(model, images, labels, class_names, tta: int = 0) -> Evaluation:
    """Every metric of `model` on the images, answered at test-time augmentation level
    `tta` (`fmnist.inference.answers`), and with any, the plain accuracy beside it
    (`accuracy_without_tta`), so neither hides the other."""
    forward = forward_function(model)
    plain, probabilities = answer_probabilities(forward, images, tta)
    metrics, confusion = compute_metrics(probabilities, labels, class_names)
    metrics["tta"] = tta
    if tta:
        metrics["accuracy_without_tta"] = float(np.mean(plain.argmax(axis=1) == labels))
    return Evaluation(
        metrics,
        confusion,
        probabilities,
        np.asarray(labels),
        np.asarray(images),
        tuple(class_names),
    )


def write_examples(result: Evaluation, path: Path) -> Path:
    """The chosen images with their labels and probabilities, compressed (about 150 KB)."""
    keep = select_examples(result.probabilities, result.labels)
    with atomic_path(path) as temporary:
        np.savez_compressed(
            temporary,
            index=keep,
            image=result.images[keep].astype(np.uint8),
            label=result.labels[keep].astype(np.int16),
            probabilities=result.probabilities[keep].astype(np.float16),
        )
    return path


def write_csv(path: Path, header: list, rows) -> None:
    with atomic_open(path, newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)


def write_evaluation(result: Evaluation, out: Path | str, split: str = "test") -> list[Path]:
    """The metrics (merged under "evaluation"/split), CSVs and figures into `out`."""
    folder = RunFolder(out)  # a run folder, or an evaluation folder of the same layout
    out = folder.path
    folder.plots.mkdir(parents=True, exist_ok=True)
    names, confusion = result.class_names, result.confusion
    everything = folder.read_metrics()
    everything.evaluation[split] = records.Evaluation.model_validate(result.metrics)
    folder.write_metrics(everything)
    metrics_path = folder.metrics_path
    rows = confusion.sum(axis=1, keepdims=True)
    normalized = confusion / np.maximum(rows, 1)
    paths = [
        metrics_path,
        *(folder.evaluation_table(kind, split) for kind in EVALUATION_TABLES),
    ]
    write_csv(
        paths[1],
        ["true \\ predicted", *names],
        [[n, *row.tolist()] for n, row in zip(names, confusion, strict=True)],
    )
    write_csv(
        paths[2],
        ["true \\ predicted", *names],
        [[n, *(f"{v:.4f}" for v in row)] for n, row in zip(names, normalized, strict=True)],
    )
    write_csv(
        paths[3],
        ["class", "precision", "recall", "f1", "support"],
        [
            [n, f"{v['precision']:.4f}", f"{v['recall']:.4f}", f"{v['f1']:.4f}", v["support"]]
            for n, v in result.metrics["per_class"].items()
        ],
    )
    paths.append(write_examples(result, folder.examples_path(split)))
    predicted = result.probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != result.labels)
    figures = {
        "confusion_matrix": confusion_matrix_figure(confusion, names),
        "misclassified": misclassified_gallery(
            result.images[wrong],
            result.labels[wrong],
            predicted[wrong],
            result.probabilities[wrong].max(axis=1),
            names,
        ),
        "reliability": reliability_diagram(
            result.metrics["calibration_bins"], result.metrics["ece"]
        ),
    }
    paths += [save_figure(f, folder.evaluation_figure(k, split)) for k, f in figures.items()]
    return paths


def format_evaluation(metrics: dict) -> str:
    """A readable summary for the terminal (an evaluation's metrics, `compute_metrics`')."""
    accuracy = f"{metrics['accuracy']:.4f}"
    if metrics["tta"]:
        accuracy += f" ({tta_name(metrics['tta'])}; {metrics['accuracy_without_tta']:.4f} without)"
    lines = [
        f"images {metrics['images']}  loss {metrics['loss']:.4f}  accuracy {accuracy}  top-2 "
        f"{metrics['top2_accuracy']:.4f}  macro F1 {metrics['macro_f1']:.4f}  ECE "
        f"{metrics['ece']:.4f}\n",
        render_table(
            ["class", "precision", "recall", "f1", "support"],
            [
                [
                    name,
                    f"{v['precision']:.4f}",
                    f"{v['recall']:.4f}",
                    f"{v['f1']:.4f}",
                    v["support"],
                ]
                for name, v in metrics["per_class"].items()
            ],
            numeric={1, 2, 3, 4},
        ),
        "",
        render_table(
            ["true class", "taken for", "images"],
            [[p["true"], p["predicted"], p["count"]] for p in metrics["most_confused"]],
            numeric={2},
            title="Most confused (true -> predicted):",
        ),
    ]
    return "\n".join(lines)


def evaluation_images(split: str, splits):
    """The images and labels of `split`: the test set, or the run's validation set."""
    return (splits.test_x, splits.test_y) if split == "test" else (splits.val_x, splits.val_y)


def evaluate_run(run_dir: Path | str, data=None, splits=("val", "test")) -> dict:
    """A run's metrics, the one way they are made: its kept model on its own validation
    split and the test set, with its own TTA, into its metrics (`evaluation.<split>`),
    CSVs and figures. `fmnist train` and `fmnist run` call this after training."""
    from fmnist.artifacts import load_model_with_metadata
    from fmnist.data.dataset import load_dataset, make_splits
    from fmnist.training.config import make_config

    run = RunFolder(run_dir)
    config = make_config(run.read_config_values())
    data = data or load_dataset(data_dir=config.data_dir)
    model, info = load_model_with_metadata(run.model_path)
    sets, results = make_splits(data, config), {}
    for split in splits:
        images, labels = evaluation_images(split, sets)
        if len(labels):
            names = info.get("class_names") or data.class_names  # the model file's metadata
            results[split] = evaluate_model(model, images, labels, names, config.tta)
            write_evaluation(results[split], run.path, split)
    return results


def evaluate_path(path, split="test", out=None, tta=None, trust=False, data_dir=None, update=False):
    """Evaluate a run folder (its kept model) or a model file; returns (result, out folder).

    A run folder is evaluated with its own settings (its flip TTA, unless `tta` says
    otherwise) into RUN/evaluations/<split>-<tta|plain>/, leaving the run's record alone;
    `update` writes into the run folder itself (metrics, CSVs, figures; its report is then
    out of date: `fmnist.reports.report.write_report` rebuilds it). A model file's
    evaluation goes to `<model>-evaluation/` beside it.
    """
    from fmnist.artifacts import load_model_with_metadata
    from fmnist.data.dataset import CLASS_NAMES, load_dataset, make_splits
    from fmnist.training.config import make_config

    model_path, run = resolve_model_path(path)
    run = run if Path(path).is_dir() else None  # a model file is evaluated as a file
    config = make_config(run.read_config_values() if run else {})
    model, info = load_model_with_metadata(model_path, trust=trust)
    own = config.tta if run else tta_level(info)  # how the run (or the file) answers
    default = own if run else 0  # a file alone: its plain answers, unless asked
    tta = default if tta is None else (own or 1) if tta else 0
    data = load_dataset(data_dir=data_dir or config.data_dir)
    images, labels = evaluation_images(split, make_splits(data, config))
    names = info.get("class_names") or CLASS_NAMES
    result = evaluate_model(model, images, labels, names, tta)
    if out is None:
        if run is None:
            out = model_path.with_name(f"{model_path.stem}-evaluation")
        else:
            out = run.path if update else run.evaluation_path(split, tta)
    write_evaluation(result, Path(out), split)
    return result, Path(out)
