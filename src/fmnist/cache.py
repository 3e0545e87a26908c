"""fmnist's cache: one folder for what it downloads or computes once and keeps.

    >>> import os
    >>> os.environ["FMNIST_CACHE_DIR"] = "/tmp/fmnist-cache"
    >>> cache_dir("photos")
    PosixPath('/tmp/fmnist-cache/photos')

Inside it: the Fashion-MNIST files (`fmnist data download`), `openml/`, the labelled photo
set (`clothing-dataset-small/`), prepared photos (`photos/`, by content) and ONNX exports
of served models (`onnx/`, by the model's hash). `$FMNIST_CACHE_DIR` when set, else the
platform's cache folder (platformdirs: `$XDG_CACHE_HOME/fmnist` or `~/.cache/fmnist` on
Linux, `~/Library/Caches/fmnist` on macOS).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE_DIR = "FMNIST_CACHE_DIR"


def cache_dir(*parts: str) -> Path:
    """The cache folder, or a folder inside it (not made here: its writer makes it)."""
    override = os.environ.get(ENV_CACHE_DIR)
    if override:
        return Path(override).expanduser().joinpath(*parts)
    import platformdirs

    return Path(platformdirs.user_cache_dir("fmnist", appauthor=False)).joinpath(*parts)
