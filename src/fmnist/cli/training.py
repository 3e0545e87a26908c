"""The training commands: train, run (the whole workflow) and sweep."""

from __future__ import annotations

from pathlib import Path

import click

from fmnist.cli.common import (
    data_dir_option,
    resolve_training_flags,
    training_options,
    uses_tensorflow,
)


@click.command("train")
@training_options
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Continue an interrupted run folder from its last finished epoch.",
)
@uses_tensorflow
def train_command(config_file, resume_dir, data_dir, **flags) -> None:
    """Train a model and write a run folder (config, history, model, metrics, curves, and
    the report page: the diagnosis first)."""
    from fmnist.run_folder import RunFolder
    from fmnist.stages import TRAIN_STAGES, run_stages

    start = resume_dir or resolve_training_flags(config_file, data_dir, **flags)
    run_dir = run_stages(start, TRAIN_STAGES, echo=click.echo)
    print_run_summary(run_dir)
    click.echo(f"Report: {RunFolder(run_dir).report_path}")


def print_run_summary(run_dir: Path) -> None:
    from fmnist.reports.runs import format_run_summary

    click.echo(format_run_summary(run_dir))


@click.command("run")
@training_options
@click.option(
    "--formats",
    default="keras,h5,pkl",
    show_default=True,
    help="Model files to save and verify: any of keras, h5, pkl.",
)
@click.option(
    "--no-photos",
    is_flag=True,
    help="Fashion-MNIST alone: do not learn the photo set (learned by default where "
    "--photos, $FMNIST_PHOTOS_DIR or the cache has it, or it can be downloaded).",
)
@uses_tensorflow
def run(config_file, formats, no_photos, data_dir, **flags) -> None:
    """The whole workflow: verify the data, explore it, train, learn the labelled photo
    set, evaluate, save and verify the model files, predict samples, write the HTML report."""
    from fmnist.pipeline import run_pipeline
    from fmnist.stages import summarize_pipeline

    if no_photos and flags.get("photos"):
        raise click.UsageError("--photos DIR and --no-photos contradict each other; give one")
    config = resolve_training_flags(config_file, data_dir, **flags)
    chosen = tuple(f.strip() for f in formats.split(",") if f.strip())
    run_dir = run_pipeline(config, chosen, echo=click.echo, photos=not no_photos)
    print_run_summary(run_dir)
    click.echo(summarize_pipeline(run_dir))


@click.command("sweep")
@click.option(
    "--config",
    "sweep_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The sweep file (TOML, YAML or JSON): model, space, metric, budget. With --repeat, "
    "a sweep file without a space, or a `fmnist train --config` file.",
)
@click.option(
    "--trials", type=click.IntRange(min=1), help="Samples of the space (overrides the file)."
)
@click.option(
    "--max-concurrent", type=click.IntRange(min=1), help="Trials at once (default: one per CPU)."
)
@click.option(
    "--epochs",
    type=click.FloatRange(min=0.1),
    help="Epochs a trial (overrides the file); the best config trains the recipe's own.",
)
@click.option(
    "--address",
    help="A Ray cluster to join: HOST:PORT, or auto for the one `ray start` began on this "
    "machine; default: a Ray of the sweep's own, beside any other.",
)
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="runs",
    show_default=True,
    help="Where the sweep folder goes (its trials are run folders inside it).",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=2),
    help="Train the file's one config over this many seeds: test accuracy's mean and spread.",
)
@click.option(
    "--resume",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Continue an interrupted sweep folder (Ray Tune's restore).",
)
@data_dir_option
def sweep_command(
    sweep_file, trials, max_concurrent, epochs, address, runs_dir, repeat, resume, data_dir
):
    """Hyperparameter sweeps (ASHA early stopping) and repeated runs on Ray Tune."""
    import dataclasses

    from fmnist.sweeps.runner import resume_sweep, run_sweep
    from fmnist.sweeps.spec import load_repeat, load_sweep

    if resume:
        resume_sweep(resume, address, echo=click.echo)
        return
    if sweep_file is None:
        raise click.UsageError("give --config SWEEP_FILE (or --resume SWEEP_DIR)")
    spec = load_repeat(sweep_file) if repeat else load_sweep(sweep_file)
    changes = {"trials": trials, "max_concurrent": max_concurrent, "epochs": epochs}
    spec = dataclasses.replace(spec, **{k: v for k, v in changes.items() if v is not None})
    run_sweep(spec, runs_dir, address, data_dir and str(data_dir), repeat or 0, echo=click.echo)
