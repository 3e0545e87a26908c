"""The HTML report of a run: one self-contained page built from the run folder alone.

    >>> write_report("runs/20261124-023912-lean_cnn")     # -> the path of its report page

This module gathers what the run folder holds; the page is the Jinja2 template
`templates/run_report.j2`, autoescaped, so nothing from a run folder can become markup.
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
from fmnist.inference.answers import tta_level, tta_name
from fmnist.plots import figure_png, training_curves
from fmnist.reports.confusion_explorer import confusion_explorer
from fmnist.run_folder import (
    EXPLORATION_FIGURES,
    PREDICTION_GRID,
    RunFolder,
    atomic_open,
    evaluation_of,
    prediction_figures,
    read_json_or_empty,
)

STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;margin:0;
background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c4c9d4}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid #dde1e8;padding:8px 28px;
z-index:1}nav a{margin-right:14px;color:#2450a6;text-decoration:none;font-size:14px}
main{max-width:1120px;margin:0 auto;padding:8px 28px 40px}
section{scroll-margin-top:44px;background:#fff;border:1px solid #e3e6ec;border-radius:8px;
padding:14px 22px;margin:18px 0}
h2{font-size:18px;margin:4px 0 12px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:14px}
th,td{padding:4px 12px;border-bottom:1px solid #eceef2;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f2f4f7}
img{max-width:100%;height:auto;border:1px solid #eceef2;margin:6px 0}
.note{color:#6b7280;font-style:italic}.ok{color:#1f7a38;font-weight:600}
.bad{color:#b22222;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
.grid img{max-width:48%}
.small img{max-width:46%}
table{display:block;max-width:100%;overflow-x:auto}
nav{overflow-x:auto;white-space:nowrap}
@media (max-width:640px){main{padding:4px 8px 24px}section{padding:10px 12px;margin:12px 0}
header,nav{padding-left:12px;padding-right:12px}.grid img,.small img{max-width:100%}
th,td{padding:4px 8px}}
.verdict-ok td.verdict{color:#1f7a38}.verdict-attention td.verdict{color:#b25e00}
.verdict-unknown td.verdict{color:#6b7280}
.verdict-attention td,td.verdict-attention{background:#fff8ec}
td.verdict{font-weight:700;font-size:17px}.evidence{color:#4b5563;font-size:13px}
table.confusion td,table.confusion th{padding:2px 4px;text-align:center;font-size:12px}
table.confusion a{display:block;min-width:34px;color:inherit;text-decoration:none}
table.confusion a:hover{outline:2px solid #b25e00}
.cell{scroll-margin-top:48px;display:none;border:1px solid #dde1e8;border-radius:6px;
padding:6px 12px;margin:8px 0}
.cell:target{display:block}
figure.thumb{display:inline-block;margin:4px;width:112px;text-align:center;font-size:11px;
vertical-align:top}figure.thumb img{width:56px;height:56px;image-rendering:pixelated;margin:0}
details summary{cursor:pointer;color:#2450a6}
"""
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
    ("model", "Model"),
    ("config", "Configuration"),
    ("files", "Saved files"),
    ("data", "Data"),
    ("environment", "Environment"),
)


def picture(path: Path, alt: str) -> dict:
    """An image for the template: its PNG as a data URL, or None when the run lacks it."""
    return {"src": png_data_url(path.read_bytes()) if path.is_file() else None, "alt": alt}


def next_steps(folder: RunFolder, diagnosis: list[dict]) -> list[tuple[str, str]]:
    """The commands worth running next on this run, with what each is for: the first
    attention finding's own suggestion leads; then asking it about a photo, learning
    photos (when it has not), serving it, and comparing it with another run."""
    run = str(folder.path)
    steps = [
        (f["suggestion"], f"the diagnosis's first warning: {f['question']}")
        for f in diagnosis
        if f["verdict"] == "attention" and f.get("suggestion")
    ][:1]
    steps.append((f"`fmnist predict --model {run} photo.jpg --explain`", "ask it about a photo"))
    if not folder.photos_path.is_file():
        steps.append(("`fmnist run --photos DIR`", "a model that learns your labelled photos"))
    steps.append((f"`fmnist serve --model {run}`", "the service and its page"))
    steps.append((f"`fmnist runs compare {run} OTHER_RUN`", "what changed against another run"))
    return steps


def stacked_curves(folder: RunFolder, config: dict, metrics: dict) -> str | None:
    """The training curves in one column, for a phone's screen (the report's <picture>
    shows them under 640 px): drawn from the history, not kept as a file."""
    history = folder.read_history()
    if not history.get("loss"):
        return None
    figure = training_curves(
        history,
        best_epoch=metrics.get("best_epoch"),
        label_smoothing=config.get("label_smoothing", 0.0),
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


def metrics_rows(metrics: dict, test: dict, validation: dict) -> list[list]:
    def number(values: dict, key: str, form: str) -> str:
        return format(values[key], form) if key in values else "-"

    return [
        ["validation accuracy", percent(validation.get("accuracy"))],
        [
            "validation accuracy without TTA (the epoch lines' figure)",
            percent(validation.get("accuracy_without_tta", validation.get("accuracy"))),
        ],
        ["validation cross-entropy", number(validation, "loss", ".4f")],
        ["test accuracy", percent(test.get("accuracy"))],
        [
            "test accuracy without TTA",
            percent(test.get("accuracy_without_tta", test.get("accuracy"))),
        ],
        ["test cross-entropy", number(test, "loss", ".4f")],
        ["test top-2 accuracy", percent(test.get("top2_accuracy"))],
        ["test macro F1", number(test, "macro_f1", ".4f")],
        ["expected calibration error", number(test, "ece", ".4f")],
        ["test-time augmentation", tta_name(tta_level(metrics))],
        ["parameters", f"{metrics.get('params', 0):,}"],
        ["training time (inside the epochs)", f"{metrics.get('wall_time_s', 0):.1f} s"],
        ["training images per second", f"{metrics.get('train_images_per_s', 0):,.0f}"],
        ["trained in", metrics.get("trained_in", "float32")],
    ]


def file_rows(pipeline: dict) -> list[list]:
    return [
        [
            s["file"],
            f"{s['bytes']:,}",
            percent(s["label_agreement"]),
            f"{s['max_probability_difference']:.1e}",
            "OK" if s["ok"] else "FAILED",
        ]
        for s in pipeline.get("saved", [])
    ]


def environment_rows(record: dict, pipeline: dict) -> list[list]:
    """The versions the run trained with, then the machine (each key once: both record the
    platform)."""
    values = {**record.get("versions", {}), **pipeline.get("environment", {})}
    rows = [[k, v] for k, v in values.items()]
    return rows + [[f"time: {k}", f"{v:.1f} s"] for k, v in pipeline.get("timings_s", {}).items()]


def config_context(config: dict) -> dict:
    """The values that differ from TrainConfig's defaults (with where each came from: the
    model's recipe or this run's settings), and the rest, folded in the page."""
    import dataclasses

    from fmnist.training.config import TrainConfig
    from fmnist.training.models import get_spec

    defaults = dataclasses.asdict(TrainConfig())
    try:
        recipe = get_spec(config.get("model", "")).recipe
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


def layer_rows(metrics: dict) -> list[list]:
    return [
        [layer["name"], layer["type"], layer["output"], f"{layer['params']:,}"]
        for layer in metrics.get("layers", [])
    ]


def share(score: dict, key: str) -> str:
    """A photo folder's count under `key` as a share of its photos ("-" where not scored)."""
    return percent(score[key] / score["photos"]) if score.get(key) is not None else "-"


def folder_holds(classes: list[str]) -> str:
    """What a photo folder's photos are, in words: a class, any of several, or none."""
    if not classes:
        return "none of the ten (right: not sure)"
    return classes[0] if len(classes) == 1 else "any of " + ", ".join(classes)


def photos_context(folder: RunFolder) -> dict | None:
    """What learning photos did (the run's photo record): held-out photos per folder before
    and after, the threshold, the sure answers' accuracy, the risk-coverage curve and the
    grid of their answers; None for a run without."""
    record = folder.read_photos()
    if not record:
        return None
    before, after = (record["held_out_scores"][k] for k in ("before", "after"))
    holds = record.get("folders", {})
    rows = [
        [name, folder_holds(holds.get(name, [])), score["photos"],
         share(before["folders"][name], "top1"), share(score, "top1"), share(score, "top3"),
         share(score, "unsure"), sure_share(score)]
        for name, score in after["folders"].items()
    ]  # fmt: skip
    overall = after["overall"]
    curve = [
        [percent(coverage), percent(accuracy), f"{confidence:.3f}"]
        for coverage, accuracy, confidence in after.get("risk_coverage", [])
    ]
    return {
        "source": record["photos"],
        "learned_from": record["learned_from"],
        "held_out": record["held_out"],
        "threshold": f"{record['unsure_below']:.3f}",
        "rows": rows,
        "top1": (percent(before["overall"]["top1"]), percent(overall["top1"])),
        "top3": percent(overall["top3"]),
        "sure": percent(overall.get("sure_accuracy")),
        "flagged": (percent(overall["out_of_class_flagged"]), percent(overall["in_class_flagged"])),
        "curve": curve,
        "curve_figure": picture(folder.photos_curve, "Risk-coverage of the held-out photos"),
        "grid": picture(folder.photos_figure, "Held-out photos and their answers"),
    }


def sure_share(score: dict) -> str:
    """Of a folder's sure answers, the share that are right ("-" where none or not scored)."""
    return percent(score["sure_right"] / score["sure"]) if score.get("sure") else "-"


def report_context(folder: RunFolder, diagnosis: list[dict]) -> dict:
    """Everything the template shows, from the run folder alone."""
    record, metrics, pipeline = folder.read_record(), folder.read_metrics(), folder.read_pipeline()
    test, validation = evaluation_of(metrics, "test"), evaluation_of(metrics, "val")

    def figure(kind: str) -> Path:
        return folder.evaluation_figure(kind, "test")

    return {
        "style": Markup(STYLE),  # our own constant, not the run folder's
        "sections": SECTIONS,
        "name": folder.path.name,
        "model": metrics.get("model", "model"),
        "accuracy": percent(test.get("accuracy"))
        + (
            f" with {tta_name(tta_level(test))} ({percent(test['accuracy_without_tta'])} without)"
            if test.get("tta")
            else ""
        ),
        "accuracy_plain": percent(test.get("accuracy_without_tta", test.get("accuracy"))),
        "diagnosis": diagnosis,
        "next_steps": next_steps(folder, diagnosis),
        "photos": photos_context(folder),
        "config": config_context(record.get("config", {})),
        "layer_rows": layer_rows(metrics),
        "params": f"{metrics['params']:,}" if "params" in metrics else "-",
        "explorer": confusion_explorer(test, folder.examples_path("test")) if test else None,
        "data": data_context(folder),
        "training": {
            "epochs_run": metrics.get("epochs_run", "-"),
            "best_epoch": metrics.get("best_epoch", "-"),
            "stopped_by": metrics.get("stopped_by", "-"),
            "curves": {
                **picture(folder.curves_path, "Training curves"),
                "narrow": stacked_curves(folder, record.get("config", {}), metrics),
            },
        },
        "metrics_rows": metrics_rows(metrics, test, validation),
        "per_class_rows": [
            [n, f"{v['precision']:.4f}", f"{v['recall']:.4f}", f"{v['f1']:.4f}", v["support"]]
            for n, v in test.get("per_class", {}).items()
        ],
        "confused_rows": [
            [p["true"], p["predicted"], p["count"]] for p in test.get("most_confused", [])
        ],
        "pictures": {
            "confusion": picture(figure("confusion_matrix"), "Confusion matrix"),
            "misclassified": picture(figure("misclassified"), "Misclassified test images"),
            "calibration": picture(figure("reliability"), "Reliability diagram"),
        },
        "predictions": {
            "grid": picture(folder.predictions / PREDICTION_GRID, "Sample test predictions"),
            "bars": [picture(p, p.stem) for p in prediction_figures(folder.predictions, "bars")],
        },
        "file_rows": file_rows(pipeline),
        "environment_rows": environment_rows(record, pipeline),
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


def build_report(folder: Path | str, diagnosis: list[dict] | None = None) -> str:
    """The report's HTML for the run folder `folder` (diagnosed now unless given)."""
    diagnosis = diagnose(folder) if diagnosis is None else diagnosis
    return template().render(report_context(RunFolder(folder), diagnosis)) + "\n"


def write_report(folder: Path | str) -> Path:
    """Diagnose the run into its metrics file and write its report page (both atomically);
    returns the page's path."""
    folder = RunFolder(folder)
    if not folder.is_run:
        raise FmnistError(f"{folder.path}: not a run folder (no {folder.config_path.name})")
    diagnosis = diagnose(folder.path)
    metrics = folder.read_metrics()
    if metrics:
        folder.write_metrics({**metrics, "diagnosis": diagnosis})
    page = build_report(folder.path, diagnosis)
    with atomic_open(folder.report_path) as stream:
        stream.write(page)
    return folder.report_path
