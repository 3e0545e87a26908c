"""Folders of labelled photos, and the file that says which classes each folder holds.

    >>> mapping = load_mapping()             # the photo set's layout: clothing_dataset.toml
    >>> mapping["sneaker"], mapping["shoes"], mapping["hat"]     # one kind, any footwear, none
    ((7,), (5, 7, 9), ())
    >>> photos = find_photo_set("../shared/photos-train")        # doctest: +SKIP

A folder maps to one class, to a set of classes (a photo of one of them, not told which:
"shoes" is a Sandal, a Sneaker or an Ankle boot) or to none (out of class: the right answer
is "not sure"). The mapping is data, a TOML file (`clothing_dataset.toml` beside this module
is the layout of photos-train and photos-dev); a folder's own `classes.toml` wins over it,
and a file given by the caller wins over both. Every error names the file and the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from fmnist.data.dataset import CLASS_NAMES
from fmnist.errors import FmnistError
from fmnist.images import FORMAT_NAMES, PHOTO_SUFFIXES

MAPPING_FILE = "classes.toml"  # a photo set's own mapping, beside its folders


class PhotoSetError(FmnistError):
    """A photo folder or its class mapping is wrong."""


def parse_mapping(values: dict, source: str) -> dict[str, tuple[int, ...]]:
    """folder -> the class indices its photos may be, from a parsed mapping file."""
    folders = values.get("folders")
    if not isinstance(folders, dict) or not folders:
        raise PhotoSetError(f"{source}: expected a [folders] table of folder = class(es)")
    unknown = set(values) - {"folders"}
    if unknown:
        raise PhotoSetError(f"{source}: unknown key {sorted(unknown)[0]!r}; only [folders]")
    mapping = {}
    for folder, classes in folders.items():
        names = [classes] if isinstance(classes, str) else classes
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise PhotoSetError(
                f"{source}: folders.{folder}: expected a class name, a list of them or [], "
                f"got {classes!r}"
            )
        bad = [n for n in names if n not in CLASS_NAMES]
        if bad:
            raise PhotoSetError(
                f"{source}: folders.{folder}: {bad[0]!r} is not a class; the classes are "
                f"{', '.join(CLASS_NAMES)}"
            )
        mapping[folder] = tuple(sorted({CLASS_NAMES.index(n) for n in names}))
    return mapping


def load_mapping(path: Path | str | None = None) -> dict[str, tuple[int, ...]]:
    """A mapping file (TOML), or the clothing dataset's layout when `path` is None."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    if path is None:
        text = resources.files("fmnist.data").joinpath("clothing_dataset.toml").read_text()
        return parse_mapping(tomllib.loads(text), "clothing_dataset.toml")
    path = Path(path)
    if path.suffix != ".toml":
        raise PhotoSetError(f"{path}: a class mapping is a .toml file")
    try:
        values = tomllib.loads(path.read_text())
    except OSError as error:
        raise PhotoSetError(f"{path}: cannot read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise PhotoSetError(f"{path}: not valid TOML: {error}") from None
    return parse_mapping(values, str(path))


@dataclass(frozen=True)
class PhotoSet:
    """The labelled photos under `root`: each file with its folder, and what folders hold."""

    root: Path
    folders: dict[str, tuple[int, ...]]  # folder -> allowed classes; () = out of class
    files: list[Path] = field(default_factory=list)  # sorted: folder, then name
    mapping_source: str = "clothing_dataset.toml"
    skipped: list[str] = field(default_factory=list)  # in its folders, not photos it reads
    missing: list[str] = field(default_factory=list)  # folders the mapping names, not there

    def describe_skipped(self) -> str | None:
        """One line on what was left out, or None when nothing was."""
        parts = []
        if self.skipped:
            shown = ", ".join(self.skipped[:3]) + (" ..." if len(self.skipped) > 3 else "")
            parts.append(f"{len(self.skipped)} files skipped, not {FORMAT_NAMES} photos ({shown})")
        if self.missing:
            parts.append(
                f"no folder for {', '.join(self.missing)} (named by {self.mapping_source})"
            )
        return "; ".join(parts) or None

    @property
    def folder_of(self) -> list[str]:
        return [p.parent.name for p in self.files]

    def targets(self) -> np.ndarray:
        """(N, 10) float32: 1 for each class a photo may be; all 0 for out of class."""
        targets = np.zeros((len(self.files), len(CLASS_NAMES)), np.float32)
        for row, folder in enumerate(self.folder_of):
            targets[row, list(self.folders[folder])] = 1
        return targets

    def counts(self) -> dict[str, int]:
        names = self.folder_of
        return {folder: names.count(folder) for folder in self.folders if folder in names}


def image_files(targets) -> list[Path]:
    """The files to answer for: each target as given, and a folder standing for the image
    files under it (PHOTO_SUFFIXES, at any depth, sorted), for folders too big for a shell's
    command line. A folder that cannot be read is listed too, so that its answer says so."""
    files = []
    for target in map(Path, targets):
        if not target.is_dir():
            files.append(target)
            continue
        found, unreadable = [], []
        for folder, _, names in os.walk(target, onerror=unreadable.append):
            found += [Path(folder) / n for n in names if Path(n).suffix.lower() in PHOTO_SUFFIXES]
        found = [p for p in found if p.is_file()]
        files += sorted(found + [Path(error.filename) for error in unreadable])
    return files


def find_photo_set(root: Path | str, mapping: Path | str | None = None) -> PhotoSet:
    """The photos in the mapped folders under `root` (other folders are left alone)."""
    root = Path(root)
    if not root.is_dir():
        raise PhotoSetError(f"{root}: no such folder of photos")
    own = root / MAPPING_FILE
    source = mapping or (own if own.is_file() else None)
    folders = load_mapping(source)
    files, skipped = [], []
    for folder in sorted(folders):
        if (root / folder).is_dir():
            for path in sorted((root / folder).iterdir()):
                taken = path.suffix.lower() in PHOTO_SUFFIXES and path.is_file()
                if taken:
                    files.append(path)
                elif not path.name.startswith("."):  # hidden files: the system's, not photos
                    skipped.append(f"{folder}/{path.name}")
    if not files:
        raise PhotoSetError(
            f"{root}: no photos in folders named {', '.join(sorted(folders))} "
            f"(the class mapping {source or 'clothing_dataset.toml'} names them)"
        )
    missing = sorted(f for f in folders if not (root / f).is_dir())
    mapping_source = str(source or "clothing_dataset.toml")
    return PhotoSet(root, folders, files, mapping_source, skipped, missing)


def split_photo_set(photos: PhotoSet, holdout: float, seed: int = 0) -> tuple[list, list]:
    """Row indices (learn, held out): `holdout` of each folder held out, drawn by `seed`."""
    rng = np.random.default_rng(seed)
    learn, held = [], []
    names = np.array(photos.folder_of)
    for folder in sorted(set(names)):
        rows = rng.permutation(np.flatnonzero(names == folder))
        cut = int(round(holdout * len(rows)))
        held += rows[:cut].tolist()
        learn += rows[cut:].tolist()
    return sorted(learn), sorted(held)
