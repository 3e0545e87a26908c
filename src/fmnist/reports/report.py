"""The HTML report of a run: one self-contained page built from the run folder alone.

    >>> write_report("runs/20261124-023912-lean_cnn")     # doctest: +SKIP

This module gathers what the run's typed records hold (`fmnist.run_folder.Run`); the page
is the Jinja2 template `templates/run_report.j2`, autoescaped, so nothing from a run folder
can become markup.
Images are embedded (base64 PNG), there are no external assets, and the page reads from
disk without a server. A section whose inputs the run lacks (a plain training run has no
exploration, say) says so instead of disappearing.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import jinja2
from markupsafe import Markup
from markupsafe import escape as markupsafe_escape

from fmnist.errors import FmnistError
from fmnist.evaluation.diagnosis import diagnose
from fmnist.images import png_data_url
from fmnist.inference.answers import tta_name
from fmnist.plots import figure_png, training_curves
from fmnist.reports.confusion_explorer import confusion_explorer
from fmnist.reports.versions import versions_context
from fmnist.run_folder import (
    EXPLORATION_FIGURES,
    PREDICTION_GRID,
    Evaluation,
    FolderScore,
    Metrics,
    Pipeline,
    Record,
    Run,
    RunFolder,
    atomic_open,
    prediction_figures,
    read_json_or_empty,
)
from fmnist.training.config import stored_config

# Results first: the answers, then the evidence, then how the model and data were set up.
SECTIONS = (
    ("diagnosis", "Diagnosis"),
    ("metrics", "Metrics"),
    ("training", "Training"),
    ("per-class", "Per class"),
    ("confusion", "Confusion matrix"),
    ("mistakes", "Most confident mistakes"),
    ("calibration", "Calibration"),
    ("predictions", "Predictions"),
    ("photos", "Photos"),
    ("versions", "Versions"),
    ("model", "Model"),
    ("config", "Configuration"),
    ("files", "Saved files"),
    ("data", "Data"),
    ("environment", "Environment"),
)


def picture(path: Path, alt: str) -> dict:
    """An image for the template: its PNG as a data URL, or None when the run lacks it."""
    return {"src": png_data_url(path.read_bytes()) if path.is_file() else None, "alt": alt}


def next_steps(run: Run, diagnosis: list[dict]) -> list[tuple[str, str]]:
    """The commands worth running next on this run, with what each is for: the first
    attention finding's own suggestion leads; then asking it about a photo, learning
    photos (when it has not), serving it, and comparing it with another run."""
    path = str(run.path)
    steps = [
        (f["suggestion"], f"the diagnosis's first warning: {f['question']}")
        for f in diagnosis
        if f["verdict"] == "attention" and f["suggestion"]
    ][:1]
    steps.append((f"`fmnist predict --model {path} photo.jpg --explain`", "ask it about a photo"))
    if run.photos is None:
        steps.append(("`fmnist run --photos DIR`", "a model that learns your labelled photos"))
    steps.append((f"`fmnist serve --model {path}`", "the service and its page"))
    steps.append((f"`fmnist runs compare {path} OTHER_RUN`", "what changed against another run"))
    return steps


def stacked_curves(run: Run) -> str | None:
    """The training curves in one column, for a phone's screen (the report's <picture>
    shows them under 640 px): drawn from the history, not kept as a file."""
    if not run.curves.loss:
        return None
    figure = training_curves(
        run.curves,
        best_epoch=run.metrics.best_epoch,
        label_smoothing=stored_config(run.config).label_smoothing,
        stacked=True,
    )
    return png_data_url(figure_png(figure, dpi=80))


def percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def data_context(folder: RunFolder) -> dict | None:
    stats_path, figures = folder.exploration
    stats = read_json_or_empty(stats_path)
    if not stats:
        return None
    split_rows = [
        [
            split,
            "x".join(map(str, info["images_shape"])),
            info["images_dtype"],
            "-".join(map(str, info["value_range"])),
            f"{info['pixels']['mean']:.2f}",
            f"{info['pixels']['std']:.2f}",
            "yes" if info["classes"]["balanced"] else "no",
        ]
        for split, info in stats["splits"].items()
    ]
    counts = stats["splits"]["train"]["classes"]["counts"]
    test_counts = stats["splits"]["test"]["classes"]["counts"]
    return {
        "source": stats["source"],
        "location": stats["location"],
        "duplicates": stats["duplicates"],
        "split_rows": split_rows,
        "class_rows": [[n, c, test_counts[n]] for n, c in counts.items()],
        "pictures": [picture(figures[n], alt) for n, alt in EXPLORATION_FIGURES.items()],
    }


def number(value: float | None, form: str) -> str:
    return "-" if value is None else format(value, form)


def metrics_rows(metrics: Metrics, test: Evaluation, validation: Evaluation) -> list[list]:
    return [
        ["validation accuracy", percent(validation.accuracy)],
        [
            "validation accuracy without TTA (the epoch lines' figure)",
            percent(validation.plain_accuracy),
        ],
        ["validation cross-entropy", number(validation.loss, ".4f")],
        ["test accuracy", percent(test.accuracy)],
        ["test accuracy without TTA", percent(test.plain_accuracy)],
        ["test cross-entropy", number(test.loss, ".4f")],
        ["test top-2 accuracy", percent(test.top2_accuracy)],
        ["test macro F1", number(test.macro_f1, ".4f")],
        ["expected calibration error", number(test.ece, ".4f")],
        ["test-time augmentation", tta_name(metrics.tta)],
        ["parameters", number(metrics.params, ",")],
        ["training time (inside the epochs)", f"{number(metrics.wall_time_s, '.1f')} s"],
        ["training images per second", number(metrics.train_images_per_s, ",.0f")],
        ["trained in", metrics.trained_in or "float32"],
    ]


def file_rows(pipeline: Pipeline) -> list[list]:
    return [
        [
            s.file,
            f"{s.bytes:,}",
            percent(s.label_agreement),
            f"{s.max_probability_difference:.1e}",
            "OK" if s.ok else "FAILED",
        ]
        for s in pipeline.saved
    ]


def environment_rows(record: Record, pipeline: Pipeline) -> list[list]:
    """The versions the run trained with, then the machine (each key once: both record the
    platform)."""
    values = {**record.versions, **pipeline.environment}
    rows = [[k, v] for k, v in values.items()]
    return rows + [[f"time: {k}", f"{v:.1f} s"] for k, v in pipeline.timings_s.items()]


def config_context(config: dict) -> dict:
    """The values that differ from TrainConfig's defaults (with where each came from: the
    model's recipe or this run's settings), and the rest, folded in the page."""
    import dataclasses

    from fmnist.training.config import TrainConfig
    from fmnist.training.models import get_spec

    defaults = dataclasses.asdict(TrainConfig())
    try:
        recipe = get_spec(str(config["model"])).recipe  # the config as the run wrote it
    except FmnistError:  # a model this version no longer has
        recipe = {}
    changed, unchanged = [], []
    for key, value in config.items():
        if key in defaults and value == defaults[key]:
            unchanged.append([key, json.dumps(value)])
            continue
        source = "model recipe" if key in recipe and recipe[key] == value else "this run"
        if key == "model":
            source = "this run"
        changed.append([key, json.dumps(value), json.dumps(defaults.get(key)), source])
    return {"changed": changed, "unchanged": unchanged}


def layer_rows(metrics: Metrics) -> list[list]:
    return [[layer.name, layer.type, layer.output, f"{layer.params:,}"] for layer in metrics.layers]


def share(score: FolderScore, count: int | None) -> str:
    """A photo folder's count as a share of its photos ("-" where not scored)."""
    return percent(score.share(count))


def folder_holds(classes: list[str]) -> str:
    """What a photo folder's photos are, in words: a class, any of several, or none."""
    if not classes:
        return "none of the ten (right: not sure)"
    return classes[0] if len(classes) == 1 else "any of " + ", ".join(classes)


def photos_context(run: Run) -> dict | None:
    """What learning photos did (the run's photo record): held-out photos per folder before
    and after, the threshold, the sure answers' accuracy, the risk-coverage curve and the
    grid of their answers; None for a run without."""
    photos = run.photos
    if photos is None:
        return None
    before, after = photos.before, photos.after
    rows = [
        [name, folder_holds(photos.folders[name]) if name in photos.folders else "-", score.photos,
         share(before.folders[name], before.folders[name].top1) if name in before.folders else "-",
         share(score, score.top1), share(score, score.top3), share(score, score.unsure),
         percent(score.sure_right / score.sure) if score.sure else "-"]
        for name, score in after.folders.items()
    ]  # fmt: skip
    overall = after.overall
    curve = [
        [percent(coverage), percent(accuracy), f"{confidence:.3f}"]
        for coverage, accuracy, confidence in after.risk_coverage
    ]
    return {
        "source": photos.photos,
        "learned_from": photos.learned_from,
        "held_out": photos.held_out,
        "threshold": number(photos.unsure_below, ".3f"),
        "rows": rows,
        "top1": (percent(before.overall.top1), percent(overall.top1)),
        "top3": percent(overall.top3),
        "sure": percent(overall.sure_accuracy),
        "flagged": (percent(overall.out_of_class_flagged), percent(overall.in_class_flagged)),
        "curve": curve,
        "curve_figure": picture(run.folder.photos_curve, "Risk-coverage of the held-out photos"),
        "grid": picture(run.folder.photos_figure, "Held-out photos and their answers"),
    }


def report_context(run: Run, diagnosis: list[dict]) -> dict:
    """Everything the template shows, from the run's records alone."""
    metrics, folder = run.metrics, run.folder
    test = metrics.split("test") or Evaluation()
    validation = metrics.split("val") or Evaluation()

    def figure(kind: str) -> Path:
        return folder.evaluation_figure(kind, "test")

    with_tta = f" with {tta_name(test.tta)} ({percent(test.plain_accuracy)} without)"
    return {
        "sections": SECTIONS,
        "name": run.path.name,
        "model": metrics.model or "model",
        "accuracy": percent(test.accuracy) + (with_tta if test.tta else ""),
        "accuracy_plain": percent(test.plain_accuracy),
        "diagnosis": diagnosis,
        "next_steps": next_steps(run, diagnosis),
        "photos": photos_context(run),
        "versions": versions_context(run),
        "config": config_context(run.config),
        "layer_rows": layer_rows(metrics),
        "params": number(metrics.params, ","),
        "explorer": confusion_explorer(test, folder.examples_path("test")),
        "data": data_context(folder),
        "training": {
            "epochs_run": number(metrics.epochs_run, "d"),
            "best_epoch": number(metrics.best_epoch, "d"),
            "stopped_by": metrics.stopped_by or "-",
            "curves": {
                **picture(folder.curves_path, "Training curves"),
                "narrow": stacked_curves(run),
            },
        },
        "metrics_rows": metrics_rows(metrics, test, validation),
        "per_class_rows": [
            [n, f"{v.precision:.4f}", f"{v.recall:.4f}", f"{v.f1:.4f}", v.support]
            for n, v in test.per_class.items()
        ],
        "confused_rows": [[p.true, p.predicted, p.count] for p in test.most_confused],
        "pictures": {
            "confusion": picture(figure("confusion_matrix"), "Confusion matrix"),
            "misclassified": picture(figure("misclassified"), "Misclassified test images"),
            "calibration": picture(figure("reliability"), "Reliability diagram"),
        },
        "predictions": {
            "grid": picture(folder.predictions / PREDICTION_GRID, "Sample test predictions"),
            "bars": [picture(p, p.stem) for p in prediction_figures(folder.predictions, "bars")],
        },
        "file_rows": file_rows(run.pipeline),
        "environment_rows": environment_rows(run.record, run.pipeline),
    }


def inline_code(text) -> Markup:
    """Text for a page: escaped, its `backquoted` commands set as code, not shown with
    their backquotes."""
    escaped = str(markupsafe_escape(text))
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped))


@cache
def template(name: str = "run_report.j2") -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("fmnist.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, not an empty cell
    )
    environment.filters["code"] = inline_code
    return environment.get_template(name)


def build_report(run: Run | Path | str, diagnosis: list[dict] | None = None) -> str:
    """The report's HTML for a run (its records, or its folder; diagnosed now unless
    `diagnosis` is given)."""
    run = run if isinstance(run, Run) else Run.load(run)
    diagnosis = diagnose(run) if diagnosis is None else diagnosis
    return template().render(report_context(run, diagnosis)) + "\n"


def write_report(run: Run | Path | str, diagnosis: list[dict] | None = None) -> Path:
    """Diagnose the run into its metrics file (unless `diagnosis` is given: the run was
    diagnosed already) and write its report page, both atomically; returns its path."""
    run = run if isinstance(run, Run) else Run.load(run)
    diagnosis = diagnose(run) if diagnosis is None else diagnosis
    if run.folder.metrics_path.is_file():
        run.metrics.diagnosis = diagnosis
        run.save("metrics")
    with atomic_open(run.folder.report_path) as stream:
        stream.write(build_report(run, diagnosis))
    return run.folder.report_path
