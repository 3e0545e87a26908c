"""The `fmnist` command line: a thin layer over the Python API, one command per stage.

    $ fmnist data verify --data-dir ../shared/data/fashion-mnist
    $ fmnist data info --json

Errors the user can act on (fmnist.errors.FmnistError) print as one line on stderr
and exit with status 1; usage errors exit with status 2 (click's convention).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from fmnist import __version__
from fmnist.errors import FmnistError


class Group(click.Group):
    """A click group that turns FmnistError into a one-line error and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FmnistError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(error.exit_code)


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder with the four idx files (default: $FMNIST_DATA_DIR, the cache, the Keras cache).",
)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="fmnist")
def main() -> None:
    """fmnist: Fashion-MNIST image classification, end to end."""


@main.group(cls=Group)
def data() -> None:
    """Fetch, verify and describe the data set."""


@data.command("download")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to put the files (default: the per-user cache).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def data_download(data_dir: Path | None, quiet: bool) -> None:
    """Download the four files from the official mirrors, each verified by its MD5."""
    from fmnist.download import download

    folder = download(data_dir, progress=not quiet)
    click.echo(f"Fashion-MNIST is in {folder} (four files, MD5 verified)")


def print_checks(folder: Path) -> bool:
    from fmnist.download import verify_folder

    checks = verify_folder(folder)
    click.echo(f"Verifying {folder}")
    for check in checks:
        shown = check.path.name if check.path else check.name
        verdict = "OK" if check.ok else f"BAD  {check.problem}"
        click.echo(f"  {shown:<28} {check.md5 or '-':<32}  {verdict}")
    return all(check.ok for check in checks)


@data.command("verify")
@data_dir_option
def data_verify(data_dir: Path | None) -> None:
    """Check the MD5 of each file against the published one."""
    from fmnist.data import locate

    _, folder = locate(data_dir)
    if not print_checks(folder):
        raise click.ClickException(f"{folder}: some files are not the published Fashion-MNIST")


def print_summary(summary: dict) -> None:
    click.echo(f"Source: {summary['source']}  ({summary['location']})")
    splits = summary["splits"]
    for split, info in splits.items():
        click.echo(
            f"{split:<5}  images {tuple(info['images_shape'])} {info['images_dtype']}  "
            f"labels {tuple(info['labels_shape'])} {info['labels_dtype']}  "
            f"pixel mean {info['pixel_mean']:.2f}  std {info['pixel_std']:.2f}"
        )
    click.echo(f"\n{'class':<12} {'train':>7} {'test':>7}")
    for name, train_count in splits["train"]["class_counts"].items():
        click.echo(f"{name:<12} {train_count:>7} {splits['test']['class_counts'][name]:>7}")


@data.command("info")
@data_dir_option
@click.option(
    "--source",
    type=click.Choice(["auto", "folder", "download", "keras", "openml"]),
    default="auto",
    show_default=True,
    help="Where to load the data from.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def data_info(data_dir: Path | None, source: str, as_json: bool) -> None:
    """Shapes, dtypes, class counts per split, pixel mean and std."""
    from fmnist.data import load_dataset, summarize

    summary = summarize(load_dataset(source, data_dir, progress=not as_json))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        print_summary(summary)


@main.command("explore")
@data_dir_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default="explore",
    show_default=True,
    help="Folder for stats.json and the figures.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random samples.")
@click.option("--tsne", is_flag=True, help="t-SNE instead of PCA for the 2-D embedding (slower).")
def explore_command(data_dir: Path | None, out: Path, seed: int, tsne: bool) -> None:
    """Statistics and figures of the data set: samples, balance, means, pixels, embedding."""
    from fmnist.data import load_dataset
    from fmnist.explore import format_statistics, write_exploration

    data = load_dataset(data_dir=data_dir)
    paths = write_exploration(data, out, seed=seed, method="tsne" if tsne else "pca")
    click.echo(format_statistics(json.loads(paths[0].read_text())))
    click.echo(f"\nWrote {len(paths)} files to {out}: {', '.join(p.name for p in paths)}")


@main.command("models")
def models_command() -> None:
    """List the registered models with parameter counts and a one-line description."""
    from fmnist.models import describe_models

    for row in describe_models():
        click.echo(f"{row['name']:<12} {row['params']:>9,}  {row['description']}")


@main.command("train")
@click.option("--model", help="A model from `fmnist models` (default: the config's, else cnn).")
@click.option("--epochs", type=click.IntRange(min=1), help="Maximum number of epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Images per step.")
@click.option(
    "--lr", "learning_rate", type=float, help="Learning rate (the peak, with a schedule)."
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A TOML, YAML or JSON file of TrainConfig keys; flags override it.",
)
@click.option("--runs-dir", type=click.Path(file_okay=False), help="Parent of run folders.")
@click.option("--name", help="Run folder suffix (default: the model name).")
@click.option("--seed", type=int, help="Seeds everything: split, shuffling, augmentation, weights.")
@click.option(
    "--validate-on-test",
    is_flag=True,
    default=None,
    help="Validate on the test set, as some tutorials do (model selection sees it).",
)
@click.option("--tensorboard", is_flag=True, default=None, help="Write TensorBoard logs too.")
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Continue an interrupted run folder from its last finished epoch.",
)
@data_dir_option
def train_command(config_file, resume_dir, data_dir, **flags) -> None:
    """Train a model and write a run folder (config, history, model, metrics, curves)."""
    from fmnist.config import resolve_config
    from fmnist.train import resume, train

    if resume_dir:
        run_dir = resume(resume_dir)
    else:
        config = resolve_config(config_file, data_dir=str(data_dir) if data_dir else None, **flags)
        run_dir = train(config)
    print_run_summary(run_dir)


def print_run_summary(run_dir: Path) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    val = f"{metrics['val_accuracy']:.4f}" if "val_accuracy" in metrics else "-"
    click.echo(
        f"\n{metrics['model']}: test accuracy {metrics['test_accuracy']:.4f}  "
        f"(validation {val}, best epoch {metrics['best_epoch']} of {metrics['epochs_run']}, "
        f"stopped by {metrics['stopped_by']}, {metrics['wall_time_s']:.0f}s, "
        f"{metrics['train_images_per_s']:.0f} images/s)"
    )
    click.echo(f"Run folder: {run_dir}")


@main.command("run")
@data_dir_option
def run(data_dir: Path | None) -> None:
    """The whole workflow. For now: locate or fetch the data, verify it, summarise it."""
    from fmnist.data import load_dataset, locate, summarize
    from fmnist.download import download
    from fmnist.errors import DataError

    try:
        _, folder = locate(data_dir)
    except DataError:
        folder = download()
    if not print_checks(folder):
        raise click.ClickException(f"{folder}: some files are not the published Fashion-MNIST")
    print_summary(summarize(load_dataset("folder", folder)))
