"""The data commands: data download, verify, info; explore; models."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fmnist.cli.common import Group, data_dir_option, output_option, uses_tensorflow
from fmnist.errors import FmnistError


@click.group(cls=Group)
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
    from fmnist.data.download import download

    folder = download(data_dir, progress=not quiet)
    click.echo(f"Fashion-MNIST is in {folder} (four files, MD5 verified)")


@data.command("verify")
@data_dir_option
def data_verify(data_dir: Path | None) -> None:
    """Check the MD5 of each file against the published one."""
    from fmnist.data.dataset import locate
    from fmnist.data.download import format_checks, verify_folder

    _, folder = locate(data_dir)
    if not folder.is_dir():
        raise FmnistError(f"{folder}: no such folder")
    checks = verify_folder(folder)
    if all(check.path is None for check in checks):
        raise FmnistError(f"{folder}: none of the four Fashion-MNIST files is here")
    click.echo(format_checks(folder, checks))
    if not all(check.ok for check in checks):
        raise FmnistError(f"{folder}: some files are not the published Fashion-MNIST")


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
    from fmnist.data.dataset import format_summary, load_dataset, summarize

    summary = summarize(load_dataset(source, data_dir, progress=not as_json))
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))


@click.command("explore")
@data_dir_option
@output_option("--out", "explore", "Folder for the statistics (JSON) and the figures.", folder=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random samples.")
@click.option("--tsne", is_flag=True, help="t-SNE instead of PCA for the 2-D embedding (slower).")
def explore_command(data_dir: Path | None, out: Path, seed: int, tsne: bool) -> None:
    """Statistics and figures of the data set: samples, balance, means, pixels, embedding."""
    from fmnist.data.dataset import load_dataset
    from fmnist.data.explore import format_statistics, write_exploration

    data = load_dataset(data_dir=data_dir)
    paths = write_exploration(data, out, seed=seed, method="tsne" if tsne else "pca")
    click.echo(format_statistics(json.loads(paths[0].read_text())))
    click.echo(f"\nWrote {len(paths)} files to {out}: {', '.join(p.name for p in paths)}")


@click.command("models")
@uses_tensorflow
def models_command() -> None:
    """List the registered models with parameter counts and a one-line description."""
    from fmnist.terminal import render_table
    from fmnist.training.models import describe_models

    rows = [[r["name"], f"{r['params']:,}", r["description"]] for r in describe_models()]
    click.echo(render_table(["model", "parameters", "description"], rows, numeric={1}))
