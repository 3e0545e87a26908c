"""The HTML report of a run: one self-contained page built from the run folder alone.

    >>> write_report("runs/20261122-101500-cnn_bn")     # -> runs/.../report.html

Images are embedded (base64 PNG), there are no external assets, and the page reads
from disk without a server. A section whose inputs the run lacks (a plain training run
has no exploration, say) says so instead of disappearing.
"""

from __future__ import annotations

import base64
import json
import os
from html import escape
from pathlib import Path

from fmnist.errors import FmnistError
from fmnist.run_folder import RunFolder, read_json_or_empty

STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;margin:0;
background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c4c9d4}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid #dde1e8;padding:8px 28px;
z-index:1}nav a{margin-right:14px;color:#2450a6;text-decoration:none;font-size:14px}
main{max-width:1120px;margin:0 auto;padding:8px 28px 40px}
section{background:#fff;border:1px solid #e3e6ec;border-radius:8px;padding:14px 22px;margin:18px 0}
h2{font-size:18px;margin:4px 0 12px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:14px}
th,td{padding:4px 12px;border-bottom:1px solid #eceef2;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f2f4f7}
img{max-width:100%;height:auto;border:1px solid #eceef2;margin:6px 0}
.note{color:#6b7280;font-style:italic}.ok{color:#1f7a38;font-weight:600}
.bad{color:#b22222;font-weight:600}.grid{display:flex;flex-wrap:wrap;gap:10px}
.grid img{max-width:48%}
"""
SECTIONS = (
    ("config", "Configuration"),
    ("data", "Data"),
    ("training", "Training"),
    ("metrics", "Metrics"),
    ("per-class", "Per class"),
    ("confusion", "Confusion matrix"),
    ("confused", "Confused pairs"),
    ("misclassified", "Misclassified"),
    ("calibration", "Calibration"),
    ("predictions", "Predictions"),
    ("files", "Saved files"),
    ("environment", "Environment"),
)


def image(path: Path, alt: str) -> str:
    if not path.is_file():
        return f'<p class="note">{escape(alt)}: not in this run folder.</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def table(header: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    def cell(tag, k, value):
        css = ' class="n"' if k in numeric else ""
        return f"<{tag}{css}>{escape(str(value))}</{tag}>"

    head = "".join(cell("th", k, h) for k, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", k, v) for k, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def config_section(run: dict) -> str:
    config = run["config"].get("config", {})
    return table(["setting", "value"], [[k, json.dumps(v)] for k, v in config.items()])


def data_section(run: dict, folder: RunFolder) -> str:
    stats = read_json_or_empty(folder.explore / "stats.json")
    if not stats:
        return '<p class="note">No exploration in this run (fmnist run adds it).</p>'
    rows = []
    for split, info in stats["splits"].items():
        pixels, balance = info["pixels"], info["classes"]
        rows.append(
            [
                split,
                "x".join(map(str, info["images_shape"])),
                info["images_dtype"],
                "-".join(map(str, info["value_range"])),
                f"{pixels['mean']:.2f}",
                f"{pixels['std']:.2f}",
                "yes" if balance["balanced"] else "no",
            ]
        )
    counts = stats["splits"]["train"]["classes"]["counts"]
    test_counts = stats["splits"]["test"]["classes"]["counts"]
    d = stats["duplicates"]
    html = [
        f"<p>Source: {escape(stats['source'])} ({escape(stats['location'])}). Duplicate "
        f"images: {d['within_train']} within train, {d['within_test']} within test, "
        f"{d['test_in_train']} test images also in train.</p>",
        table(
            ["split", "shape", "dtype", "range", "pixel mean", "pixel std", "balanced"],
            rows,
            {4, 5},
        ),
        table(
            ["class", "train", "test"], [[n, c, test_counts[n]] for n, c in counts.items()], {1, 2}
        ),
    ]
    for name, alt in (
        ("first_images", "The first training images"),
        ("class_samples", "Samples of each class"),
        ("class_distribution", "Class distribution"),
        ("class_means", "Mean image of each class"),
        ("pixel_histogram", "Pixel histogram"),
        ("embedding", "2-D embedding"),
    ):
        html.append(f"<h3>{alt}</h3>" + image(folder.explore / f"{name}.png", alt))
    return "".join(html)


def training_section(run: dict, folder: RunFolder) -> str:
    m = run["metrics"]
    summary = (
        f"<p>{m.get('epochs_run', '-')} epochs run, best epoch {m.get('best_epoch', '-')}, "
        f"stopped by {escape(str(m.get('stopped_by', '-')))}.</p>"
    )
    return summary + image(folder.curves_path, "Training curves")


def metrics_section(run: dict) -> str:
    m, e, v = run["metrics"], run["evaluation"], run["validation"]
    rows = [
        ["validation accuracy", percent(v.get("accuracy"))],
        ["validation loss", f"{v.get('loss', float('nan')):.4f}"],
        ["test accuracy", percent(e.get("accuracy"))],
        ["test accuracy without TTA", percent(e.get("accuracy_without_tta", e.get("accuracy")))],
        ["test loss", f"{e.get('loss', float('nan')):.4f}"],
        ["test top-2 accuracy", percent(e.get("top2_accuracy"))],
        ["test macro F1", f"{e['macro_f1']:.4f}" if "macro_f1" in e else "-"],
        ["expected calibration error", f"{e['ece']:.4f}" if "ece" in e else "-"],
        ["flip test-time augmentation", str(m.get("tta", False))],
        ["parameters", f"{m.get('params', 0):,}"],
        ["training time", f"{m.get('wall_time_s', 0):.0f} s"],
        ["training images per second", f"{m.get('train_images_per_s', 0):,.0f}"],
        ["trained in", m.get("trained_in", "float32")],
    ]
    return table(["metric", "value"], rows, {1})


def per_class_section(run: dict) -> str:
    per_class = run["evaluation"].get("per_class")
    if not per_class:
        return '<p class="note">Not evaluated yet: run fmnist evaluate.</p>'
    rows = [
        [n, f"{v['precision']:.4f}", f"{v['recall']:.4f}", f"{v['f1']:.4f}", v["support"]]
        for n, v in per_class.items()
    ]
    return table(["class", "precision", "recall", "F1", "support"], rows, {1, 2, 3, 4})


def confused_section(run: dict) -> str:
    pairs = run["evaluation"].get("most_confused", [])
    rows = [[p["true"], p["predicted"], p["count"]] for p in pairs]
    return (
        table(["true class", "taken for", "images"], rows, {2})
        if rows
        else ('<p class="note">Not evaluated yet.</p>')
    )


def predictions_section(run: dict, folder: RunFolder) -> str:
    bars = sorted(folder.predictions.glob("*_bars.png"))
    html = [image(folder.predictions / "grid.png", "Sample test predictions")]
    html.append('<div class="grid">' + "".join(image(p, p.stem) for p in bars) + "</div>")
    return (
        "<p>Each image labelled predicted (true): blue when right, red when wrong.</p>"
        + "".join(html)
    )


def files_section(run: dict, folder: RunFolder) -> str:
    saved = run["pipeline"].get("saved", [])
    if not saved:
        return '<p class="note">No saved-file check in this run (fmnist run adds it).</p>'
    rows = [
        [
            s["file"],
            f"{s['bytes']:,}",
            percent(s["label_agreement"]),
            f"{s['max_probability_difference']:.1e}",
            "OK" if s["ok"] else "FAILED",
        ]
        for s in saved
    ]
    return (
        "<p>Each file reloaded and its test-set predictions compared with model.keras.</p>"
        + table(
            ["file", "bytes", "labels agreeing", "largest difference", "reload"], rows, {1, 2, 3}
        )
    )


def environment_section(run: dict) -> str:
    versions = run["config"].get("versions", {})
    env = run["pipeline"].get("environment", {})
    timings = run["pipeline"].get("timings_s", {})
    rows = [[k, v] for k, v in versions.items()] + [[k, v] for k, v in env.items()]
    rows += [[f"time: {k}", f"{v:.1f} s"] for k, v in timings.items()]
    return table(["", "value"], rows)


def build_report(folder: Path | str) -> str:
    """The report's HTML for the run folder `folder`."""
    folder = RunFolder(folder)
    metrics = folder.read_metrics()
    run = {
        "config": folder.read_record(),
        "metrics": metrics,
        "evaluation": folder.read_evaluation("test"),
        "validation": folder.read_evaluation("val"),
        "pipeline": folder.read_pipeline(),
    }
    plots = folder.plots
    bodies = {
        "config": config_section(run),
        "data": data_section(run, folder),
        "training": training_section(run, folder),
        "metrics": metrics_section(run),
        "per-class": per_class_section(run),
        "confusion": image(plots / "confusion_matrix_test.png", "Confusion matrix"),
        "confused": confused_section(run),
        "misclassified": image(plots / "misclassified_test.png", "Misclassified test images"),
        "calibration": image(plots / "reliability_test.png", "Reliability diagram"),
        "predictions": predictions_section(run, folder),
        "files": files_section(run, folder),
        "environment": environment_section(run),
    }
    nav = "".join(f'<a href="#{key}">{title}</a>' for key, title in SECTIONS)
    sections = "".join(
        f'<section id="{key}"><h2>{title}</h2>{bodies[key]}</section>' for key, title in SECTIONS
    )
    model, name = escape(str(metrics.get("model", "model"))), escape(folder.path.name)
    accuracy = percent(run["evaluation"].get("accuracy"))
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><title>fmnist report: {name}'
        f"</title><style>{STYLE}</style></head><body><header><h1>Fashion-MNIST: {model}</h1>"
        f"<p>{name} &middot; test accuracy {accuracy}</p></header>"
        f"<nav>{nav}</nav><main>{sections}</main></body></html>\n"
    )


def write_report(folder: Path | str) -> Path:
    """Write report.html into the run folder (atomically) and return its path."""
    folder = RunFolder(folder)
    if not folder.is_run:
        raise FmnistError(f"{folder.path}: not a run folder (no {folder.config_path.name})")
    path = folder.report_path
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(build_report(folder.path))
    os.replace(temporary, path)
    return path
