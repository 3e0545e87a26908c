"""Fetch the four Fashion-MNIST files from the official mirrors, verified and atomic.

    >>> folder = download()          # doctest: +SKIP
    >>> [check.ok for check in verify_folder(folder)]  # doctest: +SKIP
    [True, True, True, True]

A file is streamed into a temporary file beside its target while its MD5 is
computed; only a file whose MD5 is the one Zalando publishes is renamed into place.
A failed mirror (network error, HTTP error, wrong checksum) moves on to the next one,
and nothing half-written or unverified is ever left under the real name.
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from fmnist.cache import cache_dir
from fmnist.data import idx
from fmnist.errors import DataError, describe_os_error

# Zalando's published MD5s (github.com/zalandoresearch/fashion-mnist, README).
MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
# MD5s of the same files gunzipped, for folders that hold them uncompressed.
RAW_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
# MNIST's digits under the very same names: a mix-up users really make.
MNIST_MD5 = {
    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "d53e105ee54ea40749a09fcbcd1e9432",
    "9fb629c4189551a2d022fa330f9573f3",
    "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",  # the one Keras uses
)
ENV_MIRRORS = "FMNIST_MIRRORS"  # comma-separated base URLs that replace MIRRORS
CHUNK = 1 << 16


def configured_mirrors(mirrors: tuple[str, ...] = MIRRORS) -> tuple[str, ...]:
    """$FMNIST_MIRRORS when set (for proxies and local copies), else `mirrors`."""
    override = os.environ.get(ENV_MIRRORS, "")
    return tuple(m.strip() for m in override.split(",") if m.strip()) or mirrors


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileCheck:
    """The verdict on one of the four files in a folder."""

    name: str  # Zalando's name of the file
    path: Path | None  # the file found (gzipped or not), None when missing
    md5: str  # its MD5, "" when missing
    problem: str  # "" when the file is the published one

    @property
    def ok(self) -> bool:
        return not self.problem


def diagnose(path: Path, md5: str) -> str:
    """Why a file with the wrong MD5 is wrong, as precisely as can be said."""
    if md5 in MNIST_MD5:
        return "this is MNIST's file (handwritten digits), not Fashion-MNIST"
    parse = idx.read_images if "images" in path.name else idx.read_labels
    try:
        parse(path)
    except DataError as error:
        return str(error).removeprefix(f"{path.name}: ")
    return "MD5 mismatch: the file parses but is not the published one"


def check_file(folder: Path, name: str) -> FileCheck:
    raw_name = name.removesuffix(".gz")
    for path, expected in ((folder / name, MD5[name]), (folder / raw_name, RAW_MD5[raw_name])):
        if path.is_file():
            md5 = md5_file(path)
            problem = "" if md5 == expected else diagnose(path, md5)
            return FileCheck(name, path, md5, problem)
    return FileCheck(name, None, "", "missing")


def verify_folder(folder: Path) -> list[FileCheck]:
    """Check each of the four files in `folder` against its published MD5."""
    return [check_file(Path(folder), name) for name in MD5]


def format_checks(folder: Path, checks: list[FileCheck]) -> str:
    """One line per file: name, MD5, OK or what is wrong."""
    from fmnist.terminal import render_table

    rows = [
        [
            check.path.name if check.path else check.name,
            check.md5 or "-",
            "OK" if check.ok else f"BAD  {check.problem}",
        ]
        for check in checks
    ]
    return render_table(["file", "MD5", "verdict"], rows, title=f"Verifying {folder}")


def folder_is_verified(folder: Path, raise_on_mismatch: bool = False) -> bool:
    """True when all four files are present and right. A present but wrong file is
    reported (raise_on_mismatch) or treated as absent."""
    if not Path(folder).is_dir():
        return False
    checks = verify_folder(folder)
    wrong = [c for c in checks if c.path is not None and not c.ok]
    if wrong and raise_on_mismatch:
        raise DataError(f"{wrong[0].path}: {wrong[0].problem}")
    return all(c.ok for c in checks)


# Errors of the folder being written, not of the network.
LOCAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR}


def download_file(name: str, target: Path, mirrors, progress: bool, timeout: float) -> None:
    """`name` from the first mirror that serves the published file. pooch streams it to a
    temporary file, checks its MD5 and only then moves it to `target`, so a failed or wrong
    download never replaces anything."""
    import pooch
    import requests

    pooch.get_logger().setLevel("WARNING")  # its "Downloading ..." lines; the bar says it
    fetcher = pooch.HTTPDownloader(progressbar=progress, timeout=timeout)
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        try:
            pooch.retrieve(
                url,
                known_hash=f"md5:{MD5[name]}",
                fname=target.name,
                path=target.parent,
                downloader=fetcher,
            )
            return
        except requests.HTTPError as error:
            failures.append(f"{url}: HTTP {error.response.status_code} {error.response.reason}")
        except ValueError:  # pooch: the MD5 differs
            failures.append(f"{url}: the file served is not the published one (MD5 differs)")
        except requests.RequestException as error:
            failures.append(f"{url}: {type(error).__name__}")
        except OSError as error:  # the disk, not the mirror: another mirror would not help
            if error.errno not in LOCAL_ERRNOS:
                failures.append(f"{url}: {type(error).__name__}")
                continue
            place = "" if error.filename else f" in {target.parent}"
            raise DataError(f"{name}: cannot save it{place}: {describe_os_error(error)}") from None
    raise DataError(
        f"{name}: no mirror gave a verified copy ({'; '.join(failures)}); offline? point "
        "fmnist at a folder with the four files: --data-dir DIR or FMNIST_DATA_DIR=DIR"
    )


def download(
    dest_dir: Path | str | None = None,
    mirrors: tuple[str, ...] = MIRRORS,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Make `dest_dir` (default: the cache) hold the four verified files; return it.
    Files already there and right are kept; a wrong one is replaced only by a verified copy."""
    dest = Path(dest_dir or cache_dir()).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    for name in MD5:
        if not check_file(dest, name).ok:
            download_file(name, dest / name, configured_mirrors(mirrors), progress, timeout)
    return dest
