"""The labelled photo set on any machine: fetched file by file, each checked against its git
blob id, laid out with footwear told apart.

    >>> root = download_photos()  # into the cache, e.g. ~/.cache/fmnist  # doctest: +SKIP
    >>> find_photos()  # its train split, ready for learning  # doctest: +SKIP
    PosixPath('.../clothing-dataset-small/train')

The set is the `train` and `validation` splits of the CC0 "clothing dataset (subset)"
(alexeygrigorev/clothing-dataset-small) at one commit, read from its raw files
(`BASE/<commit>/<split>/<folder>/<file>`). Every file is listed in
`clothing_dataset_files.tsv` beside this module with its size and git blob id (the SHA-1
of `blob <size>\\0` and the content: what `git hash-object` prints), so a file is either the
one published at that commit or refused. The repository keeps all footwear in `shoes/`;
`clothing_dataset_footwear.tsv` says which of them are a sneaker, a sandal or an ankle
boot (told apart by looking at each), and the download puts those in folders of their own,
so both splits are laid out as `classes.toml` (written beside them) maps them. The
repository's `test` split is never fetched.

Resumable (files already there and right are kept), concurrent, atomic per file (written
to a temporary file, renamed once its id is right), a progress bar; a failure is one line
naming the file and what was wrong.
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from fmnist.cache import cache_dir
from fmnist.data.photo_sets import PhotoSetError
from fmnist.errors import DataError, describe_os_error
from fmnist.run_folder import atomic_path

REPOSITORY = "alexeygrigorev/clothing-dataset-small"
COMMIT = "11961516512414bf9f6c150a832cfd21b54a6b54"
BASE_URL = f"https://raw.githubusercontent.com/{REPOSITORY}"
ENV_PHOTOS_URL = "FMNIST_PHOTOS_URL"  # a mirror's base URL (BASE/<commit>/<split>/...)
ENV_PHOTOS_DIR = "FMNIST_PHOTOS_DIR"  # a folder of labelled photos to learn (train's layout)
SPLITS = ("train", "validation")  # validation: the photos to measure on (photos-dev)
LEARN_SPLIT = "train"
FOOTWEAR_KINDS = ("sneaker", "sandal", "ankle-boot")  # told apart from the repository's shoes/
SET_FOLDER = "clothing-dataset-small"  # the set's folder in the cache
VERIFIED = ".verified"  # written into a split's folder once every file in it is right
WORKERS = 8  # files in flight at once: small files, so latency is what a download waits on
ATTEMPTS = 3  # per file, for network errors (a wrong file is refused at once)


@dataclass(frozen=True)
class PhotoFile:
    """One photo of the set: where the repository keeps it and what it must be."""

    split: str
    folder: str  # the repository's folder (all footwear in shoes/)
    name: str
    size: int
    blob: str  # git blob id

    @property
    def local_folder(self) -> str:
        return footwear_kinds().get(self.name, self.folder)

    def url(self, base: str) -> str:
        return f"{base.rstrip('/')}/{COMMIT}/{self.split}/{self.folder}/{self.name}"

    def path(self, root: Path) -> Path:
        return root / self.split / self.local_folder / self.name

    def label(self) -> str:
        return f"{self.split}/{self.folder}/{self.name}"


def blob_id(data: bytes) -> str:
    """The git blob id of `data`, as `git hash-object` prints it."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def remote_folder(local_folder: str) -> str:
    """The repository's folder for one of ours (the footwear kinds live in its shoes/)."""
    return "shoes" if local_folder in FOOTWEAR_KINDS else local_folder


def _table(name: str) -> list[list[str]]:
    text = resources.files("fmnist.data").joinpath(name).read_text()
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


@cache
def manifest() -> tuple[PhotoFile, ...]:
    """Every file of both splits, as published at COMMIT."""
    return tuple(
        PhotoFile(split, folder, name, int(size), blob)
        for split, folder, name, size, blob in _table("clothing_dataset_files.tsv")
    )


@cache
def footwear_kinds() -> dict[str, str]:
    """file name -> sneaker, sandal or ankle-boot, for the footwear told apart."""
    return {name: kind for name, kind in _table("clothing_dataset_footwear.tsv")}


def photo_set_dir() -> Path:
    """Where the set goes unless told otherwise: the cache's clothing-dataset-small/."""
    return cache_dir(SET_FOLDER)


def configured_url(url: str | None = None) -> str:
    return url or os.environ.get(ENV_PHOTOS_URL) or BASE_URL


def is_right(path: Path, photo: PhotoFile) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return len(data) == photo.size and blob_id(data) == photo.blob


def is_verified(split_dir: Path) -> bool:
    """Whether a whole split was downloaded and checked here (its marker names the commit)."""
    try:
        return (split_dir / VERIFIED).read_text().strip() == COMMIT
    except OSError:
        return False


class PhotoDownloadError(DataError):
    """A photo could not be fetched, or what was served is not the published file."""


class PhotoSetUnreachable(PhotoDownloadError):
    """The mirror does not answer at all (offline, a wrong URL)."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.reason = reason


OFFLINE_HINT = (
    "offline? download elsewhere and point fmnist at the train folder (--photos DIR or "
    f"${ENV_PHOTOS_DIR}=DIR), or at a mirror (${ENV_PHOTOS_URL}=URL)"
)


def fetch(photo: PhotoFile, base: str, root: Path, session, timeout: float) -> None:
    """One file from the mirror into its place, only once its size and blob id are right."""
    import requests

    url = photo.url(base)
    for attempt in range(ATTEMPTS):
        try:
            response = session.get(url, timeout=(5, timeout))
            if response.status_code != 200:
                raise PhotoDownloadError(f"{url}: HTTP {response.status_code} {response.reason}")
            data = response.content
            break
        except requests.RequestException as error:
            if attempt + 1 == ATTEMPTS:
                raise PhotoSetUnreachable(url, type(error).__name__) from None
            time.sleep(0.5 * 2**attempt)
    got = blob_id(data)
    if got != photo.blob:
        raise PhotoDownloadError(
            f"{photo.label()}: refused, not the published file (git blob id {got[:12]}, "
            f"expected {photo.blob[:12]}; {len(data):,} bytes, expected {photo.size:,})"
        )
    target = photo.path(root)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as temporary:
            temporary.write_bytes(data)
    except OSError as error:
        raise PhotoDownloadError(
            f"{photo.label()}: cannot save it in {root}: {describe_os_error(error)}"
        ) from None


def write_split_files(split_dir: Path) -> None:
    """The split's classes.toml (which classes each folder holds) and a README saying what
    the photos are."""
    mapping = resources.files("fmnist.data").joinpath("clothing_dataset.toml").read_text()
    (split_dir / "classes.toml").write_text(mapping)
    (split_dir / "README.md").write_text(
        f"# {split_dir.name}: labelled clothing photos (CC0 1.0)\n\n"
        f"The `{split_dir.name}` split of {REPOSITORY} at commit {COMMIT}, fetched and "
        "checked file by file by `fmnist data photos download`. Footwear is told apart into "
        "sneaker/, sandal/ and ankle-boot/; shoes/ keeps the closed shoes that are none of "
        "them. classes.toml says which Fashion-MNIST classes each folder holds.\n"
    )


def download_photos(
    out: Path | str | None = None,
    splits=SPLITS,
    url: str | None = None,
    workers: int = WORKERS,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Make `out` (default: the cache) hold the verified splits; returns it. Files already
    there and right are kept; the rest are fetched `workers` at a time."""
    import requests

    root = Path(out or photo_set_dir()).expanduser()
    base = configured_url(url)
    wanted = [p for p in manifest() if p.split in splits]
    missing = [p for p in wanted if not is_right(p.path(root), p)]
    failures: list[str] = []
    if missing:
        with requests.Session() as session, _progress(len(missing), progress) as advance:
            try:  # one file first: fails in seconds when offline
                fetch(missing[0], base, root, session, timeout)
            except PhotoSetUnreachable as error:
                message = f"cannot reach {base} ({error.reason}); {OFFLINE_HINT}"
                raise PhotoDownloadError(message) from None
            advance()
            with ThreadPoolExecutor(workers) as pool:
                futures = [pool.submit(fetch, p, base, root, session, timeout) for p in missing[1:]]
                for future in as_completed(futures):
                    try:
                        future.result()
                    except PhotoDownloadError as error:
                        failures.append(str(error))
                    advance()
    if failures:
        raise PhotoDownloadError(
            f"{len(failures)} of {len(wanted)} photos not fetched, the rest kept (run the "
            f"download again to resume); first: {sorted(failures)[0]}"
        )
    for split in splits:
        write_split_files(root / split)
        (root / split / VERIFIED).write_text(COMMIT + "\n")
    return root


class _progress:
    """A rich progress bar over the files (nothing when `show` is False)."""

    def __init__(self, total: int, show: bool):
        self.total, self.show, self.bar = total, show, None

    def __enter__(self):
        if self.show:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("photos"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
            )
            self.bar.start()
            self.task = self.bar.add_task("photos", total=self.total)
        return lambda: self.bar.advance(self.task) if self.bar else None

    def __exit__(self, *exc):
        if self.bar:
            self.bar.stop()


def verify_photos(root: Path | str, splits=SPLITS) -> list[str]:
    """What is wrong with a downloaded set under `root`: one line per missing or changed
    file (empty: every file of `splits` is the published one)."""
    root = Path(root)
    return [
        f"{p.split}/{p.local_folder}/{p.name}: "
        + ("missing" if not p.path(root).is_file() else "not the published file")
        for p in manifest()
        if p.split in splits and not is_right(p.path(root), p)
    ]


def find_photos(photos: Path | str | None = None, download: bool = True) -> Path:
    """The folder of labelled photos to learn: `photos`, else $FMNIST_PHOTOS_DIR, else the
    train split in the cache (checked when downloaded), else downloaded there now
    (`download`). PhotoSetError for a folder named that is not there; PhotoDownloadError
    when the set can't be had."""
    chosen = photos or os.environ.get(ENV_PHOTOS_DIR)
    if chosen:
        if not Path(chosen).is_dir():
            source = "" if photos else f" (${ENV_PHOTOS_DIR})"
            raise PhotoSetError(f"{chosen}{source}: no such folder of photos")
        return Path(chosen)
    cached = photo_set_dir() / LEARN_SPLIT
    if is_verified(cached):
        return cached
    if not download:
        raise PhotoDownloadError(f"no photo set in {photo_set_dir()} and downloading is off")
    return download_photos(photo_set_dir(), splits=SPLITS) / LEARN_SPLIT
