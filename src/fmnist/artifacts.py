"""Models as files: the one module that knows the formats.

    >>> save_model(model, "runs/x/model.keras", class_names=CLASS_NAMES)
    >>> model = load_model("runs/x/model.keras")          # Keras safe_mode, always
    >>> read_metadata("runs/x/model.keras")["class_names"][0]
    'T-shirt/top'

A `.keras` file is a zip archive; fmnist adds one entry, `fmnist.json`, holding the class
names and the input convention, so a loaded model knows its classes (Keras ignores
entries it does not know). Every save is atomic: the model is written to a temporary
file beside the target and renamed over it only once complete, so an interrupted save
never destroys the previous good file.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from fmnist.errors import FmnistError

METADATA_ENTRY = "fmnist.json"
INPUT_CONVENTION = "raw grayscale pixels 0-255, shape (N, 28, 28, 1), float32 or uint8"


class ArtifactError(FmnistError):
    """A model file is missing, damaged, or of a format that cannot be read."""


def temporary_sibling(path: Path) -> Path:
    """A temporary name beside `path` that keeps its suffix (Keras checks the extension)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


def save_model(model, path: Path | str, class_names=None, metadata: dict | None = None) -> Path:
    """Save `model` as .keras with fmnist's metadata, atomically. Returns the path."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ArtifactError(f"{path}: this save supports .keras files")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        model.save(temporary)
        info = {"class_names": list(class_names or []), "input": INPUT_CONVENTION}
        with zipfile.ZipFile(temporary, "a") as archive:
            archive.writestr(METADATA_ENTRY, json.dumps({**info, **(metadata or {})}, indent=2))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def read_metadata(path: Path | str) -> dict:
    """fmnist's metadata inside a .keras file ({} when it has none)."""
    try:
        with zipfile.ZipFile(path) as archive:
            if METADATA_ENTRY not in archive.namelist():
                return {}
            return json.loads(archive.read(METADATA_ENTRY))
    except (OSError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ArtifactError(f"{path}: cannot read its metadata ({error})") from None


def load_model(path: Path | str, compile: bool = False):
    """Load a .keras model with Keras safe_mode on (no arbitrary code from the file)."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise ArtifactError(f"{path}: not a .keras file (not a zip archive; truncated or damaged?)")
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as error:  # Keras raises many types for a damaged archive
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ArtifactError(f"{path}: cannot load the model ({reason[:200]})") from None
