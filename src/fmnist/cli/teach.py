"""Teaching a run: keep a corrected photo with its label (data photos add), and learn the
corrections as a new version of the run's model (adapt)."""

from __future__ import annotations

from pathlib import Path

import click

from fmnist.cli.common import data_dir_option, output_option, uses_tensorflow


@click.command("add")
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--label",
    required=True,
    help="What the photos are: a class (Sneaker, 'Ankle boot', t-shirt-top ...) or none "
    "(none of the ten).",
)
@output_option("--to", "corrections", "The corrections folder (a folder per class).", folder=True)
def photos_add(photos: tuple[Path, ...], label: str, to: Path) -> None:
    """Keep photos with their right label in a corrections folder, for fmnist adapt."""
    from fmnist.photos.corrections import CorrectionStore, label_of

    store, name = CorrectionStore(to), label_of(label)
    for photo in photos:
        saved = store.add_file(photo, name)
        moved = f" (was in {saved.moved_from.parent.name}/)" if saved.moved_from else ""
        click.echo(f"{photo} -> {saved.path}{moved}")
    click.echo(f"{store.count()} photos in {to}; learn them: fmnist adapt RUN --photos {to}")


@click.command("adapt")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--photos",
    "photo_dirs",
    multiple=True,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder of labelled photos (a corrections folder, or photos-train's layout); "
    "repeatable.",
)
@data_dir_option
@uses_tensorflow
def adapt_command(run_dir: Path, photo_dirs: tuple[Path, ...], data_dir: Path | None) -> None:
    """Learn new labelled photos as a new version of RUN's model: what it learned before is
    replayed, the "not sure" threshold chosen again; a service on RUN reloads it."""
    from fmnist.data import load_dataset
    from fmnist.run_folder import RunFolder
    from fmnist.stages import adapt_run

    data = load_dataset(data_dir=data_dir) if data_dir else None
    version = adapt_run(run_dir, list(photo_dirs), data, click.echo)
    click.echo(describe_version(version))
    click.echo(f"Report: {RunFolder(run_dir).report_path}")


def describe_version(version) -> str:
    """A version's figures in a few lines."""

    def pct(value):
        return "-" if value is None else f"{value:.1%}"

    lines = [
        f"Version {version.version}: learned {version.learned_from} new photos "
        f"({version.new_photos - version.learned_from} held out), replaying "
        f"{version.replayed_from}, in {version.seconds:.0f} s",
        f"  new photos top-1        {pct(version.new_before)} -> {pct(version.new_after)}",
        f"  earlier held-out top-1  {pct(version.earlier_held_out_before)} -> "
        f"{pct(version.earlier_held_out)}",
        f"  Fashion-MNIST test      {pct(version.fmnist_test_before)} -> "
        f"{pct(version.fmnist_test)}",
        f"  fixed {len(version.fixed)} photos, broke {len(version.broken)}",
    ]
    return "\n".join(lines)
