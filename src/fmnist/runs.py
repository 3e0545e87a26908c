"""Many runs at a glance: a leaderboard, and two runs' training curves on one figure.

>>> rows = leaderboard("runs")          # best first; interrupted runs included
>>> save_figure(compare_runs("runs/a", "runs/b"), "compare.png")
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from fmnist.errors import FmnistError
from fmnist.plots import TRAIN_COLOR, VAL_COLOR, plt
from fmnist.runfiles import read_history, read_json_or_empty


def run_row(folder: Path) -> dict:
    """One leaderboard row from a run folder's own files."""
    config = read_json_or_empty(folder / "config.json")
    metrics, state = (
        read_json_or_empty(folder / "metrics.json"),
        read_json_or_empty(folder / "state.json"),
    )
    history = read_history(folder / "history.csv")
    status = state.get("status", "unknown")
    val = metrics.get("val_accuracy")
    if val is None and history.get("val_accuracy"):
        val = max(history["val_accuracy"])  # an unfinished run: its best epoch so far
    test = (
        metrics.get("evaluation", {}).get("test", {}).get("accuracy", metrics.get("test_accuracy"))
    )
    return {
        "name": folder.name,
        "model": config.get("config", {}).get("model", "?"),
        "status": status,
        "epochs": state.get("epochs_done", len(history.get("loss", []))),
        "max_epochs": config.get("config", {}).get("epochs"),
        "val_accuracy": val,
        "test_accuracy": test,
        "wall_time_s": metrics.get("wall_time_s", state.get("train_seconds")),
        "params": metrics.get("params"),
        "date": config.get("created", ""),
    }


def format_run_summary(run_dir: Path) -> str:
    """Two lines on a finished run: its accuracy, how training went, where it is."""
    m = read_json_or_empty(Path(run_dir) / "metrics.json")
    val = f"{m['val_accuracy']:.4f}" if "val_accuracy" in m else "-"
    return (
        f"\n{m['model']}: test accuracy {m['test_accuracy']:.4f}  (validation {val}, best epoch "
        f"{m['best_epoch']} of {m['epochs_run']}, stopped by {m['stopped_by']}, "
        f"{m['wall_time_s']:.0f}s, {m['train_images_per_s']:.0f} images/s in "
        f"{m.get('trained_in', 'float32')})\nRun folder: {run_dir}"
    )


def leaderboard(runs_dir: Path | str = "runs") -> list[dict]:
    """Every run under `runs_dir`, best test accuracy first; unfinished runs last."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FmnistError(f"{runs_dir}: no such runs folder")
    rows = [run_row(f) for f in sorted(runs_dir.iterdir()) if (f / "config.json").is_file()]
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

    header = (
        f"{'#':>2}  {'run':<34} {'model':<12} {'status':<12} {'epochs':>7} {'val acc':>8} "
        f"{'test acc':>8} {'time':>7} {'params':>9}  date"
    )
    lines = [header, "-" * len(header)]
    for rank, r in enumerate(rows, start=1):
        epochs = f"{r['epochs']}/{r['max_epochs']}" if r["max_epochs"] else str(r["epochs"])
        time = "-" if r["wall_time_s"] is None else f"{r['wall_time_s']:.0f}s"
        params = "-" if r["params"] is None else f"{r['params']:,}"
        lines.append(
            f"{rank:>2}  {r['name'][:34]:<34} {r['model']:<12} {r['status']:<12} "
            f"{epochs:>7} {pct(r['val_accuracy']):>8} {pct(r['test_accuracy']):>8} "
            f"{time:>7} {params:>9}  {r['date'][:16]}"
        )
    return "\n".join(lines)


def compare_runs(first: Path | str, second: Path | str) -> Figure:
    """Both runs' accuracy and loss per epoch on one figure (solid: validation)."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for folder, color in ((Path(first), TRAIN_COLOR), (Path(second), VAL_COLOR)):
        history = read_history(folder / "history.csv")
        if not history:
            raise FmnistError(f"{folder}: no history.csv (not a run folder?)")
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
