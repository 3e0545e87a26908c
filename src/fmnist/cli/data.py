"""The data commands: data download, verify, info; data photos download, verify, add; explore."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fmnist.cli.common import Group, data_dir_option, output_option
from fmnist.cli.teach import photos_add
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


@data.group("photos", cls=Group)
def photos() -> None:
    """Fetch and check the labelled photo set (CC0 clothing photos, footwear told apart)."""


@photos.command("download")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to put the set (default: the per-user cache); its train/ and validation/ "
    "folders are laid out as photos-train.",
)
@click.option(
    "--url",
    help="A mirror's base URL, serving BASE/<commit>/<split>/<folder>/<file> (default: "
    "$FMNIST_PHOTOS_URL, else GitHub's raw files).",
)
@click.option(
    "--split",
    "splits",
    type=click.Choice(["train", "validation"]),
    multiple=True,
    help="Only this split (repeatable; default: both). train is learned, validation measured.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def photos_download(out: Path | None, url: str | None, splits: tuple, quiet: bool) -> None:
    """Download the photo set, every file checked against its git blob id; a download that
    stopped resumes where it was."""
    from fmnist.data.photo_download import SPLITS, download_photos

    chosen = splits or SPLITS
    root = download_photos(out, chosen, url, progress=not quiet)
    click.echo(
        f"The photo set is in {root} ({', '.join(chosen)}; every file verified): learn it "
        f"with fmnist run, or point FMNIST_PHOTOS_DIR at {root / 'train'}"
    )


@photos.command("verify")
@click.argument(
    "folder", type=click.Path(exists=True, file_okay=False, path_type=Path), required=False
)
def photos_verify(folder: Path | None) -> None:
    """Check a downloaded photo set (default: the cache's) file by file."""
    from fmnist.data.photo_download import SPLITS, photo_set_dir, verify_photos

    root = folder or photo_set_dir()
    problems = verify_photos(root, [s for s in SPLITS if (root / s).is_dir()] or SPLITS)
    if problems:
        for line in problems[:10]:
            click.echo(line)
        raise FmnistError(f"{root}: {len(problems)} photos missing or not the published ones")
    click.echo(f"{root}: every photo is the published one")


photos.add_command(photos_add)


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
