"""Many runs at a glance: a leaderboard, and two runs' training curves on one figure.

>>> rows = leaderboard("runs")          # best first; interrupted runs included
>>> save_figure(compare_runs("runs/a", "runs/b"), "compare.png")
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from fmnist.errors import FmnistError
from fmnist.plots import TRAIN_COLOR, VAL_COLOR, new_figure
from fmnist.run_folder import RunFolder, evaluation_of, list_runs
from fmnist.terminal import render_table


def run_row(folder: Path | str) -> dict:
    """One leaderboard row from a run folder's own files."""
    run = RunFolder(folder)
    record, metrics, state = run.read_record(), run.read_metrics(), run.read_state()
    config = record.get("config", {})
    history = run.read_history()
    val = evaluation_of(metrics, "val").get("accuracy")
    if val is None and history.get("val_accuracy"):
        val = max(history["val_accuracy"])  # an unfinished run: its best epoch so far
    evaluation = evaluation_of(metrics, "test")
    test = evaluation.get("accuracy")
    status = state.status
    if state.status == "failed" and state.stage:
        status += f" ({state.stage})"
    return {
        "name": run.path.name,
        "model": config.get("model", "?"),
        "status": status,
        "error": state.error,
        "epochs": state.epochs_done or len(history.get("loss", [])),
        "max_epochs": config.get("epochs"),
        "val_accuracy": val,
        "test_accuracy": test,
        "test_accuracy_without_tta": evaluation.get("accuracy_without_tta", test),
        "wall_time_s": metrics.get("wall_time_s", state.train_seconds or None),
        "params": metrics.get("params"),
        "date": record.get("created", ""),
    }


def format_run_summary(run_dir: Path | str) -> str:
    """Two lines on a finished run: its accuracy, how training went, where it is."""
    run = RunFolder(run_dir)
    m = run.read_metrics()
    test, val = evaluation_of(m, "test"), evaluation_of(m, "val")
    accuracy = f"{test['accuracy']:.4f}" if test else "not evaluated"
    if test.get("tta"):
        accuracy += f" with flip TTA ({test['accuracy_without_tta']:.4f} without)"
    validation = f"{val['accuracy']:.4f}" if val else "-"
    return (
        f"\n{m['model']}: test accuracy {accuracy}  (validation {validation}, best epoch "
        f"{m['best_epoch']} of {m['epochs_run']}, stopped by {m['stopped_by']}, "
        f"{m['wall_time_s']:.0f}s, {m['train_images_per_s']:.0f} images/s in "
        f"{m.get('trained_in', 'float32')})\nRun folder: {run_dir}"
    )


def leaderboard(runs_dir: Path | str = "runs") -> list[dict]:
    """Every run under `runs_dir`, best test accuracy first; unfinished runs last."""
    rows = [run_row(run.path) for run in list_runs(runs_dir)]
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

    header = ["#", "run", "model", "status", "epochs", "val acc", "test acc", "no TTA", "time"]
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
            "-" if r["wall_time_s"] is None else f"{r['wall_time_s']:.0f}s",
            "-" if r["params"] is None else f"{r['params']:,}",
            r["date"][:16],
        ]
        for rank, r in enumerate(rows, start=1)
    ]
    return render_table([*header, "params", "date"], table, numeric={0, 4, 5, 6, 7, 8, 9})


def compare_runs(first: Path | str, second: Path | str) -> Figure:
    """Both runs' accuracy and loss per epoch on one figure (solid: validation)."""
    figure, axes = new_figure(1, 2, figsize=(12, 4.5))
    for folder, color in ((Path(first), TRAIN_COLOR), (Path(second), VAL_COLOR)):
        history = RunFolder(folder).read_history()
        if not history:
            raise FmnistError(f"{folder}: no training history (not a run folder?)")
        epochs = range(1, len(history["loss"]) + 1)
        for axis, metric in ((axes[0], "accuracy"), (axes[1], "loss")):
            axis.plot(
                epochs,
                history[metric],
                "--",
                color=color,
                alpha=0.7,
                label=f"{folder.name} training",
            )
            if f"val_{metric}" in history:
                axis.plot(
                    epochs,
                    history[f"val_{metric}"],
                    "-",
                    color=color,
                    label=f"{folder.name} validation",
                )
    for axis, metric in ((axes[0], "accuracy"), (axes[1], "loss")):
        axis.set(title=metric.capitalize(), xlabel="epoch", ylabel=metric)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    return figure
