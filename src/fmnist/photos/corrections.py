"""Corrections: photos a person labelled after the model answered them, kept as a labelled
photo folder (a folder per class, `classes.toml`), the layout `fmnist adapt` and photo
learning read.

    >>> import tempfile
    >>> store = CorrectionStore(tempfile.mkdtemp())
    >>> folder_for("Ankle boot"), folder_for(None), label_of("t-shirt-top")
    ('ankle-boot', 'none-of-these', 'T-shirt/top')
    >>> store.count()
    0

A photo is named by its content (the first 20 hex digits of its SHA-256): nothing a client
sends names a path, and the same photo corrected twice keeps one copy, under the label
given last. Each file is checked before it is kept (a PNG, JPEG or WebP that decodes, within
the pixel and byte limits) and written atomically; the folder holds at most `max_photos`.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from fmnist.data.dataset import CLASS_NAMES
from fmnist.data.photo_sets import MAPPING_FILE
from fmnist.errors import FmnistError
from fmnist.images import MAX_PIXELS, PHOTO_FORMATS, READ_AS
from fmnist.photos.prepare import PhotoError, PhotoTooLarge, open_photo
from fmnist.run_folder.atomic import atomic_open, atomic_path

OUT_OF_CLASS = "none-of-these"  # the folder of photos that are none of the ten classes
MAX_PHOTOS = 10_000  # a corrections folder's cap: a service cannot be made to fill a disk
MAX_BYTES = 5_000_000  # one photo's cap, the service's upload limit by default


class CorrectionError(FmnistError):
    """A correction that cannot be kept (its label, its image, or a full folder)."""


class CorrectionTooLarge(CorrectionError):
    """A photo over the byte or pixel limit."""


class CorrectionsFull(CorrectionError):
    """The folder holds its most photos already."""


def folder_for(label: str | None) -> str:
    """The folder of a class name ("Ankle boot" -> "ankle-boot"); None: out of class."""
    if label is None:
        return OUT_OF_CLASS
    return label.lower().replace("/", "-").replace(" ", "-")


FOLDERS = {folder_for(name): name for name in CLASS_NAMES}


def label_of(text: str) -> str | None:
    """A class name from what a person types: the name, its folder, any case; "none",
    "none of these" or the out-of-class folder for out of class (None)."""
    key = folder_for(text.strip())
    if key in ("none", OUT_OF_CLASS, "none-of-these-classes"):
        return None
    if key in FOLDERS:
        return FOLDERS[key]
    raise CorrectionError(
        f"label {text!r}: not a class; the classes are {', '.join(CLASS_NAMES)}, or 'none'"
    )


def mapping_toml() -> str:
    """The corrections folder's `classes.toml`: each class's folder, and the out-of-class one."""
    lines = ["# Written by fmnist: a folder per class; none-of-these holds photos of no class.",
             "[folders]"]  # fmt: skip
    lines += [f'{folder} = "{name}"' for folder, name in FOLDERS.items()]
    lines.append(f"{OUT_OF_CLASS} = []")
    return "\n".join(lines) + "\n"


def photo_suffix(data: bytes, name: str, max_pixels: int) -> str:
    """The file suffix of a photo's bytes, once they decode as a photo fmnist reads."""
    try:
        image = open_photo(io.BytesIO(data), name, max_pixels)
    except PhotoTooLarge as error:
        raise CorrectionTooLarge(str(error)) from None
    except PhotoError as error:
        raise CorrectionError(str(error)) from None
    return PHOTO_FORMATS[READ_AS.get(image.format, image.format)][0][0]


@dataclass(frozen=True)
class Saved:
    path: Path  # where the photo is now
    label: str | None  # its class, None out of class
    moved_from: Path | None = None  # the same photo, kept before under another label


class CorrectionStore:
    """A folder of corrected photos. Its `classes.toml` is written with the first photo."""

    def __init__(self, root: Path | str, max_photos: int = MAX_PHOTOS, max_bytes: int = MAX_BYTES,
                 max_pixels: int = MAX_PIXELS):  # fmt: skip
        self.root = Path(root)
        self.max_photos, self.max_bytes, self.max_pixels = max_photos, max_bytes, max_pixels

    def __repr__(self) -> str:
        return f"CorrectionStore({str(self.root)!r})"

    def add(self, data: bytes, label: str | None, name: str = "photo") -> Saved:
        """Keep a photo's bytes under `label` (a class name; None: none of the classes)."""
        if label is not None and label not in CLASS_NAMES:
            raise CorrectionError(f"label {label!r}: not a class")
        if not data:
            raise CorrectionError(f"{name}: empty file")
        if len(data) > self.max_bytes:
            raise CorrectionTooLarge(f"{name}: {len(data):,} bytes; at most {self.max_bytes:,}")
        suffix = photo_suffix(data, name, self.max_pixels)
        stem = hashlib.sha256(data).hexdigest()[:20]
        earlier = self.find(stem)
        if earlier is None and self.count() >= self.max_photos:
            raise CorrectionsFull(f"{self.root}: full ({self.max_photos:,} photos); adapt, then "
                                  "move them elsewhere")  # fmt: skip
        target = self.root / folder_for(label) / f"{stem}{suffix}"
        self.write_mapping()
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as temporary:
            temporary.write_bytes(data)
        if earlier is not None and earlier != target:
            earlier.unlink(missing_ok=True)  # relabelled: the last label holds
        return Saved(target, label, earlier if earlier != target else None)

    def add_file(self, path: Path | str, label: str | None) -> Saved:
        """`add` for a photo on disk."""
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > self.max_bytes:
                raise CorrectionTooLarge(f"{path}: {size:,} bytes; at most {self.max_bytes:,}")
            data = path.read_bytes()
        except OSError as error:
            raise CorrectionError(f"{path}: cannot read ({error.strerror})") from None
        return self.add(data, label, str(path))

    def write_mapping(self) -> None:
        mapping = self.root / MAPPING_FILE
        if not mapping.is_file():
            self.root.mkdir(parents=True, exist_ok=True)
            with atomic_open(mapping) as stream:
                stream.write(mapping_toml())

    def photos(self) -> list[Path]:
        """Every kept photo, by folder and name (unfinished writes left out)."""
        if not self.root.is_dir():
            return []
        folders = [*FOLDERS, OUT_OF_CLASS]
        return sorted(
            path
            for folder in folders
            if (self.root / folder).is_dir()
            for path in (self.root / folder).iterdir()
            if not path.name.startswith(".") and path.is_file()
        )

    def find(self, stem: str) -> Path | None:
        """The kept photo of this content, under whichever label (a content name is unique)."""
        folders = [*FOLDERS, OUT_OF_CLASS]
        matches = [p for f in folders for p in (self.root / f).glob(f"{stem}.*") if p.is_file()]
        return matches[0] if matches else None

    def count(self) -> int:
        return len(self.photos())

    def counts(self) -> dict[str, int]:
        """Photos per label ("none of these" for out of class), the labels that have some."""
        counts: dict[str, int] = {}
        for path in self.photos():
            label = FOLDERS.get(path.parent.name, "none of these")
            counts[label] = counts.get(label, 0) + 1
        return counts


def describe(store: CorrectionStore) -> dict:
    """What a page shows of the store: where it is, how many, of which labels."""
    counts = store.counts()  # one listing of the folder for both
    return {"folder": os.fspath(store.root.resolve()), "count": sum(counts.values()),
            "by_label": counts}  # fmt: skip
