"""Many runs at a glance: a leaderboard, and two runs side by side.

>>> rows = leaderboard("runs")  # best first; interrupted runs included  # doctest: +SKIP
>>> save_figure(compare_runs("runs/a", "runs/b"), "compare.png")  # doctest: +SKIP
>>> found = comparison("runs/a", "runs/b")  # what changed, both diagnoses  # doctest: +SKIP
>>> print(format_comparison(found)); write_comparison_page(found, "compare.html")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from fmnist.errors import FmnistError
from fmnist.evaluation.diagnosis import MARKS, diagnose, plain_cross_entropy
from fmnist.inference.answers import tta_name
from fmnist.plots import TRAIN_COLOR, VAL_COLOR, new_figure
from fmnist.run_folder import Curves, Evaluation, Run, list_runs
from fmnist.terminal import render_table
from fmnist.training.config import stored_config


def run_row(run: Run | Path | str) -> dict:
    """One leaderboard row from a run's records."""
    run = run if isinstance(run, Run) else Run.load(run)
    metrics, state, config, curves = run.metrics, run.state, run.config, run.curves
    test = metrics.split("test") or Evaluation()
    val = (metrics.split("val") or Evaluation()).accuracy
    if val is None and curves.val_accuracy:
        val = max(curves.val_accuracy)  # an unfinished run: its best epoch so far
    status = state.live_status
    if status == "failed" and state.stage:
        status += f" ({state.stage})"
    return {
        "name": run.path.name,
        "model": config["model"] if "model" in config else "?",
        "status": status,
        "error": state.error,
        "epochs": state.epochs_done or curves.epochs,
        "max_epochs": config["epochs"] if "epochs" in config else None,
        "val_accuracy": val,
        "test_accuracy": test.accuracy,
        "test_accuracy_without_tta": test.plain_accuracy,
        "photos": run.photos.after.overall.top1 if run.photos else None,  # held out
        "wall_time_s": metrics.wall_time_s or state.train_seconds or None,
        "params": metrics.params,
        "date": run.record.created or "",
    }


def format_run_summary(run: Run | Path | str) -> str:
    """Two lines on a finished run: its accuracy, how training went, where it is."""
    run = run if isinstance(run, Run) else Run.load(run)
    m = run.metrics
    test, val = m.split("test"), m.split("val")
    accuracy = f"{test.accuracy:.4f}" if test else "not evaluated"
    if test and test.tta:
        accuracy += f" with {tta_name(test.tta)} ({test.plain_accuracy:.4f} without)"
    validation = f"{val.accuracy:.4f}" if val else "-"
    if val and val.tta:  # the epoch lines show it without: say both, so they match
        validation += f" with {tta_name(val.tta)}, {val.plain_accuracy:.4f} without"
    return (
        f"\n{m.model}: test accuracy {accuracy}  (validation {validation}; best epoch "
        f"{m.best_epoch} of {m.epochs_run}, stopped by {m.stopped_by}, "
        f"{m.wall_time_s:.1f} s in the epochs, {m.train_images_per_s:.0f} images/s in "
        f"{m.trained_in or 'float32'})\nRun folder: {run.path}"
    )


def leaderboard(runs_dir: Path | str = "runs", sweeps: bool = False) -> list[dict]:
    """Every run under `runs_dir` (with `sweeps`, sweep trials too, named SWEEP/TRIAL),
    best test accuracy first; unfinished runs last."""
    rows = []
    for folder in list_runs(runs_dir, sweeps):
        row = run_row(Run.load(folder))
        if folder.path.parent != Path(runs_dir):
            row["name"] = f"{folder.path.parent.name}/{folder.path.name}"
        rows.append(row)
    return sorted(
        rows,
        key=lambda r: (
            r["test_accuracy"] is None,
            -(r["test_accuracy"] or 0),
            -(r["val_accuracy"] or 0),
        ),
    )


def format_leaderboard(rows: list[dict]) -> str:
    def pct(value):
        return "-" if value is None else f"{100 * value:.2f}%"

    header = [
        "#", "run", "model", "status", "epochs", "val acc", "test acc", "no TTA", "photos", "time"
    ]  # fmt: skip
    table = [
        [
            rank,
            r["name"],
            r["model"],
            r["status"],
            f"{r['epochs']}/{r['max_epochs']}" if r["max_epochs"] else r["epochs"],
            pct(r["val_accuracy"]),
            pct(r["test_accuracy"]),
            pct(r["test_accuracy_without_tta"]),
            pct(r["photos"]),
            "-" if r["wall_time_s"] is None else f"{r['wall_time_s']:.0f}s",
            "-" if r["params"] is None else f"{r['params']:,}",
            r["date"][:16],
        ]
        for rank, r in enumerate(rows, start=1)
    ]
    return render_table([*header, "params", "date"], table, numeric={0, 4, 5, 6, 7, 8, 9, 10})


def loss_series(curves: Curves, label_smoothing: float, validation: bool) -> tuple[list, str]:
    """The loss to compare runs on: plain cross-entropy where the run has it (so a run with
    label smoothing is not made to look worse), else the loss it trained with."""
    plain = plain_cross_entropy(curves, label_smoothing, validation)
    if plain is not None:
        return plain, "cross-entropy"
    return (curves.val_loss if validation else curves.loss), "loss as trained"


def compare_runs(first: Path | str, second: Path | str) -> Figure:
    """Both runs' accuracy and plain cross-entropy per epoch on one figure (solid:
    validation, dashed: training)."""
    figure, axes = new_figure(1, 2, figsize=(12, 4.5))
    loss_kinds = set()
    for folder, color in ((Path(first), TRAIN_COLOR), (Path(second), VAL_COLOR)):
        run = Run.load(folder)
        curves, smoothing = run.curves, stored_config(run.config).label_smoothing
        if not curves.loss:
            raise FmnistError(f"{folder}: no training history (not a run folder?)")
        epochs = range(1, curves.epochs + 1)
        for validation, style, what in ((False, "--", "training"), (True, "-", "validation")):
            accuracy = curves.val_accuracy if validation else curves.accuracy
            loss, kind = loss_series(curves, smoothing, validation)
            loss_kinds.add(kind)
            label = f"{folder.name} {what}"
            # linestyle and marker given apart: as one format string, "-" + "." reads "-.",
            # a dash-dot line with no marker, which draws nothing for a one-epoch run
            line = dict(linestyle=style, marker="o", markersize=4, color=color, alpha=0.8)
            if accuracy:
                axes[0].plot(epochs, accuracy, label=label, **line)
            if loss:
                axes[1].plot(epochs, loss, label=label, **line)
    loss_title = " / ".join(sorted(loss_kinds)).capitalize()
    for axis, title in ((axes[0], "Accuracy"), (axes[1], loss_title)):
        axis.set(title=title, xlabel="epoch", ylabel=title.lower())
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def config_changes(first: Run, second: Run) -> list[list]:
    """The settings whose values differ between two runs: [setting, first, second]."""
    import dataclasses
    import json

    a, b = (dataclasses.asdict(stored_config(run.config)) for run in (first, second))
    skip = {"name", "runs_dir"}  # where a run lives, not how it trained
    return [
        [key, json.dumps(a[key]), json.dumps(b[key])]
        for key in a
        if key not in skip and a[key] != b[key]
    ]


def comparison(first: Path | str, second: Path | str) -> dict:
    """Both runs' rows, diagnoses and what changed between their configs."""
    runs = [Run.load(first), Run.load(second)]
    rows = [run_row(run) for run in runs]
    by_key = [{f["key"]: f for f in diagnose(run)} for run in runs]
    absent = {"question": "", "verdict": "unknown", "answer": "not asked of this run"}
    questions = []
    for key in dict.fromkeys([*by_key[0], *by_key[1]]):  # one run may answer more (photos)
        a, b = (found.get(key, absent) for found in by_key)
        question = a["question"] or b["question"]
        questions.append([question, a["verdict"], a["answer"], b["verdict"], b["answer"]])
    return {"runs": rows, "changes": config_changes(*runs), "questions": questions}


def format_comparison(found: dict) -> str:
    """A `comparison`: what changed and how each run was diagnosed, for the terminal."""
    a, b = (r["name"] for r in found["runs"])
    changes = render_table(
        ["setting", a, b], found["changes"] or [["(none)", "", ""]], title="Config changes:"
    )

    def short(verdict: str, answer: str) -> str:
        return f"{MARKS[verdict]} {answer if len(answer) <= 70 else answer[:69] + '…'}"

    diagnosis = render_table(
        ["question", a, b],
        [[q, short(va, aa), short(vb, ab)] for q, va, aa, vb, ab in found["questions"]],
        title="Diagnosis (fmnist report RUN --diagnose: in full):",
    )
    board = format_leaderboard(found["runs"])
    return "\n".join([board, "", changes, "", diagnosis])


def write_comparison_page(found: dict, out: Path | str, figure_path=None) -> Path:
    """A `comparison` as a small self-contained HTML page: both runs' figures, what
    changed, both diagnoses."""

    from fmnist.reports.report import percent, picture, template
    from fmnist.run_folder import atomic_open

    context = {
        **found,
        "percent": percent,
        "curves": picture(Path(figure_path), "Training curves of both runs")
        if figure_path
        else {"data": None, "alt": "Training curves"},
    }
    out = Path(out)
    with atomic_open(out) as stream:
        stream.write(template("compare.j2").render(context) + "\n")
    return out
