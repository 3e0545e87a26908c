"""Photos prepared on every core: labelled ones once, cached by content; any number streamed.

    >>> pixels = prepare_photos(photo_set.files)  # (N, 28, 28) uint8, cached  # doctest: +SKIP
    >>> pixels = prepare_photos(paths, workers=1)  # in this process  # doctest: +SKIP
    >>> for path, steps in stream_photo_steps(paths):  # doctest: +SKIP
    ...     steps.pixels if not isinstance(steps, PhotoError) else str(steps)

Learning from photos prepares each exactly as `fmnist predict` does
(`fmnist.photos.prepare.load_photo_steps`: the garment found, Zalando's steps), so what the
model learns from is what it is later asked about. A photo's input is cached under the hash
of its bytes and PREPARATION_VERSION (raise it whenever the steps change), so a renamed or
copied photo is not prepared again and a changed one is. The photos are prepared on every
core, in processes of their own.
"""

from __future__ import annotations

import hashlib
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from fmnist.cache import cache_dir
from fmnist.photos.prepare import PhotoError, PhotoSteps, load_photo_steps
from fmnist.run_folder import atomic_path

PREPARATION_VERSION = 1  # part of every cache key, with GrabCut's settings


def cache_key(path: Path) -> str:
    """The photo's content and how it is prepared: a change to either is a new entry."""
    from fmnist.photos import segmentation

    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:32]
    grabcut = f"g{segmentation.WORKING_SIZE}x{segmentation.ITERATIONS}"
    return f"v{PREPARATION_VERSION}-{grabcut}-{digest}"


def is_prepared_photo(entry: np.ndarray) -> bool:
    """Whether a cache entry is what preparing a photo writes: 28 x 28 uint8 that is not
    one flat value (a photo's input always holds a garment on a ground)."""
    return entry.shape == (28, 28) and entry.dtype == np.uint8 and entry.max() > entry.min()


def photo_cache_dir() -> Path:
    return cache_dir("photos")


WINDOW = 256  # photos in flight at once when streaming: what bounds the memory
POOL_FROM = 8  # fewer photos than this are prepared in this process (a pool costs a second)


def _steps_or_error(path: str, images: bool) -> PhotoSteps | PhotoError:
    try:
        steps = load_photo_steps(path)
    except PhotoError as error:
        return error
    return steps if images else steps.without_images()


def stream_photo_steps(paths, workers: int | None = None, images: bool = False):
    """(path, PhotoSteps or the PhotoError that refused it) for each of `paths`, in order,
    prepared `WINDOW` at a time in `workers` processes (default: one per core), so memory
    stays flat however many there are; `images` keeps each step's images (`--explain`)."""
    paths = [str(p) for p in paths]
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(paths) < POOL_FROM:
        for path in paths:
            yield path, _steps_or_error(path, images)
        return
    windows = [paths[start : start + WINDOW] for start in range(0, len(paths), WINDOW)]
    # spawn: a fork of a process that has started TensorFlow's threads can hang
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:

        def submit(window):  # pool.map submits the whole window at once
            chunk = max(1, len(window) // (4 * workers))
            return pool.map(_steps_or_error, window, [images] * len(window), chunksize=chunk)

        pending = submit(windows[0])
        for number, window in enumerate(windows):
            done = pending
            if number + 1 < len(windows):  # the next window prepares while this one is used
                pending = submit(windows[number + 1])
            yield from zip(window, done, strict=True)


def prepare_photos(paths, cache_dir: Path | None = None, workers: int | None = None):
    """The 28 x 28 inputs of `paths`, (N, 28, 28) uint8, from the cache where it has them;
    the rest prepared in `workers` processes (default: one per core) and cached."""
    cache = Cache(Path(cache_dir or photo_cache_dir()))
    cache_dir = cache.folder
    paths = [Path(p) for p in paths]
    keys = [cache_key(p) for p in paths]
    pixels = np.zeros((len(paths), 28, 28), np.uint8)
    missing = []
    for row, key in enumerate(keys):
        cached = cache_dir / f"{key}.npy"
        try:
            entry = np.load(cached, allow_pickle=False)
        except (OSError, ValueError):  # absent, or damaged: prepared again
            missing.append(row)
            continue
        if is_prepared_photo(entry):
            pixels[row] = entry
        else:  # not what preparing writes (another dtype, NaN, one flat value): again
            missing.append(row)
    prepared = stream_photo_steps([paths[r] for r in missing], workers)
    for row, (_, steps) in zip(missing, prepared, strict=True):
        if isinstance(steps, PhotoError):
            raise steps
        pixels[row] = steps.pixels
        cache.keep(keys[row], steps.pixels)
    return pixels


class Cache:
    """Where prepared photos are kept; one that cannot be written is not used: the photos
    are prepared all the same, and one line on stderr says so, naming the folder."""

    def __init__(self, folder: Path):
        self.folder, self.usable = folder, True
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            self.give_up(error)

    def keep(self, key: str, pixels: np.ndarray) -> None:
        if not self.usable:
            return
        try:
            with atomic_path(self.folder / f"{key}.npy") as temporary:
                np.save(temporary, pixels)
        except OSError as error:
            self.give_up(error)

    def give_up(self, error: OSError) -> None:
        self.usable = False
        reason = error.strerror or type(error).__name__
        print(f"[photos] the cache {self.folder} cannot be written ({reason}): photos are "
              "prepared without it (FMNIST_CACHE_DIR names another)", file=sys.stderr)  # fmt: skip
