"""Hyperparameter sweeps and repeated runs on Ray Tune: many fmnist runs, one command.

    >>> sweep_dir = run_sweep(load_sweep("examples/sweep.toml"))  # local Ray  # doctest: +SKIP
    >>> sweep_dir = run_sweep(spec, address="10.0.0.1:6379")  # a cluster  # doctest: +SKIP
    >>> sweep_dir = resume_sweep("runs/sweep-20261124-101500-mlp")  # after Ctrl-C  # doctest: +SKIP
    >>> sweep_dir = run_sweep(spec, repeat=5)  # doctest: +SKIP

Ray Tune does the scheduling (ASHA stops poor trials early), the placement of trials on
cores or nodes, and the restore of an interrupted sweep; nothing here schedules. Each trial
is an ordinary run folder inside the sweep folder, so `fmnist runs --runs-dir SWEEP`,
`fmnist report` and `fmnist evaluate` work on it. Model choice reads validation figures
only; the best trial's test accuracy is measured once, at the end. Ray is an optional
extra, imported by this module's functions alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import time
from pathlib import Path

from fmnist.errors import FmnistError
from fmnist.ray_runtime import require_ray as require_ray_part
from fmnist.ray_runtime import start_ray
from fmnist.run_folder import (
    RunFolder,
    SweepFolder,
    atomic_open,
    list_runs,
    write_json,
)
from fmnist.sweeps.results import (
    format_sweep,
    trial_rows,
    write_leaderboard,
)
from fmnist.sweeps.spec import SweepSpec, config_toml, parse_sweep
from fmnist.sweeps.trial import complete_trial, run_trial
from fmnist.training.config import whole_epochs

INSTALL_HINT = 'fmnist sweep needs Ray Tune, an optional extra: pip install -e ".[sweep]"'


def require_ray():
    return require_ray_part("tune", INSTALL_HINT)


def search_space(spec: SweepSpec) -> dict:
    """The sweep file's space as Ray Tune's sampling functions."""
    _, tune = require_ray()
    make = {
        "choice": lambda v: tune.choice(list(v)),
        "grid": lambda v: tune.grid_search(list(v)),
        "uniform": lambda v: tune.uniform(*v),
        "loguniform": lambda v: tune.loguniform(*v),
        "randint": lambda v: tune.randint(v[0], v[1] + 1),  # both ends included
    }
    return {key: make[d.kind](d.values) for key, d in spec.space.items()}


def spec_values(spec: SweepSpec) -> dict:
    """The spec as the file's values again (for the trials, and for a resume)."""
    values = dataclasses.asdict(spec)
    values["space"] = {k: {d.kind: list(d.values)} for k, d in spec.space.items()}
    return values


def worker_env(spec: SweepSpec) -> dict:
    """What the trials need from the driver's environment: the MLflow store it chose, when
    the sweep tracks its trials (`mlflow = true` in its config)."""
    if not spec.config.get("mlflow"):
        return {}
    from fmnist.tracking.mlflow_runs import prepare_store

    return {"MLFLOW_TRACKING_URI": prepare_store()}


def make_tuner(spec: SweepSpec, sweep_dir: Path, data_dir, repeat: int, restore: bool):
    """Ray Tune's Tuner for the sweep: ASHA on the validation metric (none for repeats)."""
    _, tune = require_ray()
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import BasicVariantGenerator

    context = {
        "spec": spec_values(spec),
        "sweep_dir": str(sweep_dir.resolve()),
        "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
        "repeat": bool(repeat),
        "threads": max(1, int(spec.cpus_per_trial)),
    }
    resources = {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial}
    trainable = tune.with_resources(tune.with_parameters(run_trial, context=context), resources)
    if restore:
        return tune.Tuner.restore(
            str(SweepFolder(sweep_dir.resolve()).ray_dir),
            trainable,
            resume_unfinished=True,
            resume_errored=True,
        )
    scheduler = None
    if not repeat:
        scheduler = ASHAScheduler(
            time_attr="epoch",
            # past the last epoch: a trial that reaches its end finishes on its own
            max_t=whole_epochs(spec.epochs) + 1,
            grace_period=min(spec.grace_period, whole_epochs(spec.epochs)),
            reduction_factor=spec.reduction_factor,
        )
    space = {"seed": tune.grid_search(list(range(repeat)))} if repeat else search_space(spec)
    return tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            metric=spec.metric,
            mode=spec.mode,
            scheduler=scheduler,
            # Tune's own sampler, seeded, with the concurrency limit (a SearchGenerator
            # takes it here: Tune ignores max_concurrent_trials beside one)
            search_alg=BasicVariantGenerator(
                random_state=spec.seed, max_concurrent=spec.max_concurrent or 0
            ),
            num_samples=1 if repeat else spec.trials,
            time_budget_s=spec.time_limit_s,
        ),
        run_config=tune.RunConfig(
            name=SweepFolder(sweep_dir).ray_dir.name,
            storage_path=str(sweep_dir.resolve()),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )


def create_sweep_dir(runs_dir: Path | str, spec: SweepSpec, repeat: int) -> Path:
    from datetime import datetime

    kind = f"repeat{repeat}" if repeat else "sweep"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    sweep_dir = Path(runs_dir) / f"{kind}-{stamp}-{spec.model}"
    sweep_dir.mkdir(parents=True, exist_ok=False)
    return sweep_dir


def run_sweep(
    spec: SweepSpec, runs_dir="runs", address=None, data_dir=None, repeat: int = 0, echo=print
) -> Path:
    """A new sweep (or, with `repeat`, one config over `repeat` seeds) into a new folder."""
    require_ray()
    sweep_dir = create_sweep_dir(runs_dir, spec, repeat)
    write_json(
        SweepFolder(sweep_dir).spec_path,
        {"spec": spec_values(spec), "repeat": repeat, "data_dir": data_dir, "address": address},
    )
    return execute(sweep_dir, spec, address, data_dir, repeat, restore=False, echo=echo)


def resume_sweep(sweep_dir: Path | str, address=None, echo=print) -> Path:
    """Continue an interrupted sweep with Ray Tune's restore: finished trials are kept,
    unfinished ones resume their run folders from their last finished epoch."""
    sweep_dir = Path(sweep_dir)
    folder = SweepFolder(sweep_dir)
    saved = json.loads(folder.spec_path.read_text()) if folder.spec_path.is_file() else None
    if saved is None or not folder.ray_dir.is_dir():
        missing = f"{folder.spec_path.name} or {folder.ray_dir.name}/"
        raise FmnistError(f"{sweep_dir}: not a sweep folder (no {missing})")
    spec = parse_sweep(saved["spec"])
    return execute(
        sweep_dir,
        spec,
        address or saved["address"],
        saved["data_dir"],
        saved["repeat"],
        restore=True,
        echo=echo,
    )


def execute(sweep_dir, spec, address, data_dir, repeat, restore, echo) -> Path:
    ray = start_ray(address, env=worker_env(spec), hint=INSTALL_HINT)
    started = time.perf_counter()
    echo(
        f"Ray: {ray.cluster_resources().get('CPU', 0):.0f} CPUs on "
        f"{len(ray.nodes())} node(s); sweep folder {sweep_dir}"
    )
    results = make_tuner(spec, sweep_dir, data_dir, repeat, restore).fit()
    seconds = time.perf_counter() - started
    unfinished = unfinished_trials(sweep_dir, spec, repeat)
    if unfinished and (spec.time_limit_s is None or seconds < spec.time_limit_s):
        from fmnist.training.train import TrainingInterrupted  # Ray Tune returns after a Ctrl-C

        raise TrainingInterrupted(
            f"sweep interrupted with {unfinished} trials unfinished; resume with: "
            f"fmnist sweep --resume {sweep_dir}"
        )
    nodes = {r.metrics.get("fmnist_trial"): r.metrics.get("node") for r in results if r.metrics}
    errors = {
        r.metrics.get("fmnist_trial"): str(r.error).splitlines()[0] for r in results if r.error
    }
    summarize(sweep_dir, spec, data_dir, repeat, seconds, errors, nodes, echo)
    if errors:  # the leaderboard holds the others; the command still fails
        first = next(iter(errors.values()))
        raise FmnistError(
            f"{len(errors)} of {expected_trials(spec, repeat)} trials failed ({first}); the "
            f"leaderboard in {sweep_dir} lists the trials that ran"
        )
    return sweep_dir


def expected_trials(spec: SweepSpec, repeat: int) -> int:
    if repeat:
        return repeat
    grid = [len(d.values) for d in spec.space.values() if d.kind == "grid"]
    return spec.trials * (math.prod(grid) if grid else 1)


def unfinished_trials(sweep_dir: Path, spec: SweepSpec, repeat: int) -> int:
    """Trials the sweep has yet to run or finish, from the experiment state Ray Tune saved
    (what its restore reads): Tune's `fit` returns, rather than raises, after a Ctrl-C."""
    from ray.tune import ExperimentAnalysis

    trials = ExperimentAnalysis(str(SweepFolder(sweep_dir.resolve()).ray_dir)).trials
    running = sum(t.status not in ("TERMINATED", "ERROR") for t in trials)
    return running + max(0, expected_trials(spec, repeat) - len(trials))


def complete_trials(sweep_dir: Path, dataset, spec: SweepSpec, repeat: int, nodes: dict) -> None:
    """Every trial folder made whole: those ASHA stopped between epochs are finished as they
    stand and measured here; each records the node it ran on."""
    for run in list_runs(sweep_dir):
        node = nodes.get(SweepFolder.trial_id(run.path))
        complete_trial(run, dataset, spec.epochs, bool(repeat), node)


def summarize(sweep_dir, spec, data_dir, repeat, seconds, errors, nodes, echo) -> dict:
    """Leaderboard, best config, figure and summary of a finished sweep; the best trial's
    test accuracy measured once (repeats: every trial's, for the mean and spread)."""
    from fmnist.data.dataset import load_dataset
    from fmnist.evaluation.evaluate import evaluate_run
    from fmnist.plots import save_figure, sweep_figure
    from fmnist.reports.report import write_report

    dataset = load_dataset(data_dir=data_dir, progress=False)
    complete_trials(sweep_dir, dataset, spec, repeat, nodes)
    rows = trial_rows(sweep_dir, spec, errors)
    if not rows:
        raise FmnistError(
            f"{sweep_dir}: no trial produced a run folder ({'; '.join(errors.values())})"
        )
    best = sweep_dir / rows[0]["trial"]
    if not repeat:
        evaluate_run(best, dataset, splits=("test",))
        write_report(best)
        rows[0]["test_accuracy"] = RunFolder(best).read_metrics().split("test").accuracy
    with atomic_open(SweepFolder(sweep_dir).best_config_path) as stream:
        from fmnist.training.config import stored_config

        chosen = stored_config(RunFolder(best).read_config_values())
        searched = "epochs" in spec.space or bool(repeat)  # its epochs are the point, then
        stream.write(config_toml(chosen, None if searched else spec.epochs))
    write_leaderboard(SweepFolder(sweep_dir).leaderboard_path, rows)
    if spec.space and not repeat:
        save_figure(sweep_figure(rows, spec), SweepFolder(sweep_dir).parameters_figure)
    summary = {
        "trials": len(rows),
        "wall_time_s": round(seconds, 1),
        "best_trial": rows[0]["trial"],
        "best_val_accuracy": rows[0]["val_accuracy"],
        "best_test_accuracy": rows[0]["test_accuracy"],
        "stopped_by_asha": sum(r["status"] == "stopped by ASHA" for r in rows),
        "nodes": sorted({r["node"] for r in rows if r["node"]}),
    }
    if repeat:
        tests = [r["test_accuracy"] for r in rows if r["test_accuracy"] is not None]
        summary.update(
            test_accuracy_mean=statistics.mean(tests),
            test_accuracy_std=statistics.stdev(tests) if len(tests) > 1 else 0.0,
            test_accuracies=tests,
        )
    write_json(SweepFolder(sweep_dir).summary_path, summary)
    echo(format_sweep(rows, summary, sweep_dir))
    return summary
