"""A sweep's results: its trials' rows (from their run folders), the leaderboard file and
the terminal table.

    >>> rows = trial_rows("runs/sweep-20261124-101500-mlp", spec, errors={})  # doctest: +SKIP
    >>> write_leaderboard(SweepFolder(sweep_dir).leaderboard_path, rows)  # doctest: +SKIP
    >>> print(format_sweep(rows, summary, path))  # doctest: +SKIP

Ray-free: everything here reads the trials' run folders.
"""

from __future__ import annotations

from pathlib import Path

from fmnist.run_folder import Run, SweepFolder, atomic_open, list_runs
from fmnist.sweeps.spec import SweepSpec
from fmnist.terminal import render_table
from fmnist.training.config import TrainConfig, stored_config


def trial_rows(sweep_dir: Path, spec: SweepSpec, errors: dict) -> list[dict]:
    """One row per trial from its run folder, best first by the sweep's metric."""
    rows = []
    for folder in list_runs(sweep_dir):
        run = Run.load(folder)
        config, metrics, state = stored_config(run.config), run.metrics, run.state
        val, test = metrics.split("val"), metrics.split("test")
        status = "stopped by ASHA" if state.stopped_by == "asha" else state.live_status
        error = errors.get(SweepFolder.trial_id(run.path))
        rows.append(
            {
                "trial": run.path.name,
                "status": f"{status}: {error}" if error and status != "finished" else status,
                "epochs": state.epochs_done,
                "val_accuracy": val.accuracy if val else max(run.curves.val_accuracy or [0]),
                "val_loss": val.loss if val else None,
                "test_accuracy": test.accuracy if test else None,
                "seconds": state.train_seconds,
                "node": metrics.node,
                "params": {k: swept_value(config, k) for k in spec.space} or {"seed": config.seed},
            }
        )
    sign = -1 if spec.mode == "max" else 1
    key = "val_accuracy" if spec.metric == "val_accuracy" else "val_loss"
    return sorted(rows, key=lambda r: (r[key] is None, sign * (r[key] or 0)))


def swept_value(config: TrainConfig, key: str):
    """A trial's value of a swept key (`model_args.width` for a model's own argument)."""
    if key.startswith("model_args."):
        return config.model_args.get(key.removeprefix("model_args."))
    return getattr(config, key)


def write_leaderboard(path: Path, rows: list[dict]) -> None:
    import csv

    keys = list(rows[0]["params"])
    with atomic_open(path, newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            [
                "rank",
                "trial",
                "status",
                "epochs",
                "val_accuracy",
                "val_loss",
                "test_accuracy",
                "seconds",
                "node",
                *keys,
            ]
        )
        for rank, r in enumerate(rows, 1):
            writer.writerow(
                [
                    rank,
                    r["trial"],
                    r["status"],
                    r["epochs"],
                    r["val_accuracy"],
                    r["val_loss"],
                    r["test_accuracy"],
                    round(r["seconds"], 1),
                    r["node"],
                    *(r["params"][k] for k in keys),
                ]
            )


def format_sweep(rows: list[dict], summary: dict, sweep_dir: Path) -> str:
    def pct(value):
        return "-" if value is None else f"{100 * value:.2f}%"

    def show(value):
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    keys = list(rows[0]["params"])
    table = render_table(
        ["#", "trial", "status", "epochs", "val acc", "test acc", "time", *keys],
        [
            [
                rank,
                r["trial"],
                r["status"],
                r["epochs"],
                pct(r["val_accuracy"]),
                pct(r["test_accuracy"]),
                f"{r['seconds']:.0f}s",
                *(show(r["params"][k]) for k in keys),
            ]
            for rank, r in enumerate(rows, 1)
        ],
        numeric={0, 3, 4, 5, 6},
    )
    lines = [table, ""]
    if "test_accuracy_mean" in summary:
        lines.append(
            f"test accuracy over {len(summary['test_accuracies'])} seeds: "
            f"{pct(summary['test_accuracy_mean'])} ± {100 * summary['test_accuracy_std']:.2f} "
            "(mean ± standard deviation)"
        )
    else:
        lines.append(
            f"best: {summary['best_trial']}  validation {pct(summary['best_val_accuracy'])}, "
            f"test {pct(summary['best_test_accuracy'])} (measured once, after the choice)"
        )
    lines.append(
        f"{summary['trials']} trials in {summary['wall_time_s']:.0f}s; "
        f"leaderboard, best config (fmnist train --config "
        f"{SweepFolder(sweep_dir).best_config_path}) and "
        f"figures in {sweep_dir}"
    )
    return "\n".join(lines)
