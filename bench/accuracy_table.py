"""Accuracy table: every registered model trained with its own recipe on this machine:
test accuracy (of the epoch chosen on the validation split), epochs, wall time, training
images per second, parameters.

    FMNIST_DATA_DIR=../shared/data/fashion-mnist python bench/accuracy_table.py
    python bench/accuracy_table.py --runs-dir runs --only mlp cnn   # reuse finished runs

A finished run of a model already under --runs-dir is reused instead of retrained.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import data_dir, write_result  # noqa: E402
from fmnist.evaluation.evaluate import evaluate_run  # noqa: E402
from fmnist.reports.runs import leaderboard  # noqa: E402
from fmnist.run_folder import RunFolder  # noqa: E402
from fmnist.training.config import resolve_config  # noqa: E402
from fmnist.training.models import list_models  # noqa: E402
from fmnist.training.train import train  # noqa: E402


def finished_run(runs_dir: Path, model: str) -> Path | None:
    if not runs_dir.is_dir():
        return None
    rows = [r for r in leaderboard(runs_dir) if r["model"] == model and r["status"] == "finished"]
    return runs_dir / rows[0]["name"] if rows else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", default="bench/results/runs")
    parser.add_argument("--only", nargs="+", default=list_models())
    args = parser.parse_args()
    runs_dir, rows = Path(args.runs_dir), []
    for model in args.only:
        run_dir = finished_run(runs_dir, model)
        if run_dir is None:
            print(f"training {model} with its recipe...", flush=True)
            run_dir = train(
                resolve_config(model=model, data_dir=data_dir(), runs_dir=str(runs_dir))
            )
        run = RunFolder(run_dir)
        if run.read_metrics().split("test") is None:
            evaluate_run(run_dir)
        m = run.read_metrics()
        test = m.split("test")
        rows.append(
            {
                "model": model,
                "test_accuracy": test.accuracy,
                "test_accuracy_without_tta": test.plain_accuracy,
                "val_accuracy": m.split("val").accuracy,
                "epochs": m.epochs_run,
                "best_epoch": m.best_epoch,
                "wall_time_s": m.wall_time_s,
                "train_images_per_s": m.train_images_per_s,
                "params": m.params,
                "tta": m.tta,
                "trained_in": m.trained_in or "float32",  # runs before bfloat16: float32
                "run": run_dir.name,
            }
        )
    print(
        f"{'model':<12} {'test acc':>8} {'val acc':>8} {'epochs':>6} {'time':>7} {'img/s':>7} "
        f"{'params':>9}  trained in"
    )
    for r in rows:
        print(
            f"{r['model']:<12} {100 * r['test_accuracy']:>7.2f}% {100 * r['val_accuracy']:>7.2f}% "
            f"{r['epochs']:>6} {r['wall_time_s']:>6.0f}s {r['train_images_per_s']:>7.0f} "
            f"{r['params']:>9,}  {r['trained_in']}"
        )
    write_result("accuracy_table", {"rows": rows})


if __name__ == "__main__":
    main()
