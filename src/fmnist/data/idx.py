"""Strict reading and writing of idx files, the format Fashion-MNIST ships in.

An idx file is a big-endian header (a magic number, then one count per dimension)
followed by raw uint8 values. Every check a damaged or wrong file can fail is done
here, and each failure is one line naming the file:

    >>> import numpy as np
    >>> from pathlib import Path
    >>> path = write_idx(Path("t10k-labels-idx1-ubyte.gz"), np.arange(10, dtype=np.uint8))
    >>> read_labels(path).tolist()
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from fmnist.errors import DataError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
IMAGE_SIZE = 28
NUM_CLASSES = 10
GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> bytes:
    """The file's idx bytes, gunzipped when the file is gzip (by content, not by name)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read: {error.strerror}") from None
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except EOFError:
        raise DataError(
            f"{Path(path).name}: truncated gzip stream (the file was cut short)"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise DataError(f"{Path(path).name}: corrupt gzip data ({error})") from None


def _header(data: bytes, name: str, magic: int, ndim: int) -> list[int]:
    if len(data) < 4:
        raise DataError(f"{name}: {len(data)} bytes, too short for an idx header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        kinds = {IMAGES_MAGIC: "an images file", LABELS_MAGIC: "a labels file"}
        what = f" ({kinds[found]})" if found in kinds else ""
        raise DataError(
            f"{name}: wrong magic number {found}{what}; expected {magic} for {kinds[magic]}"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(f"{name}: truncated header ({len(data)} of {header_size} bytes)")
    return [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]


def _check_length(data: bytes, name: str, offset: int, count: int, item: int, noun: str) -> None:
    body = len(data) - offset
    if body < count * item:
        raise DataError(f"{name}: truncated: header says {count} {noun}, file holds {body // item}")
    if body > count * item:
        raise DataError(
            f"{name}: {body - count * item} bytes after the {count} {noun} the header declares"
        )


def parse_images(data: bytes, name: str) -> np.ndarray:
    """uint8 images (N, 28, 28) from idx3 bytes; `name` is used in error messages."""
    count, rows, cols = _header(data, name, IMAGES_MAGIC, 3)
    if (rows, cols) != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(
            f"{name}: images are {rows}x{cols}; Fashion-MNIST images are {IMAGE_SIZE}x{IMAGE_SIZE}"
        )
    _check_length(data, name, 16, count, rows * cols, "images")
    return np.frombuffer(data, np.uint8, offset=16).reshape(count, rows, cols).copy()


def parse_labels(data: bytes, name: str) -> np.ndarray:
    """uint8 labels (N,) in 0-9 from idx1 bytes; `name` is used in error messages."""
    (count,) = _header(data, name, LABELS_MAGIC, 1)
    _check_length(data, name, 8, count, 1, "labels")
    labels = np.frombuffer(data, np.uint8, offset=8).copy()
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise DataError(
            f"{name}: label {labels[bad[0]]} at index {bad[0]} is outside 0-{NUM_CLASSES - 1}"
            + (f" ({bad.size} such labels)" if bad.size > 1 else "")
        )
    return labels


def read_images(path: Path) -> np.ndarray:
    """Images from an idx3 file, gzipped or not."""
    return parse_images(read_bytes(path), Path(path).name)


def read_labels(path: Path) -> np.ndarray:
    """Labels from an idx1 file, gzipped or not."""
    return parse_labels(read_bytes(path), Path(path).name)


def encode(array: np.ndarray) -> bytes:
    """The idx bytes of a uint8 array: (N,) labels or (N, H, W) images."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = {1: LABELS_MAGIC, 3: IMAGES_MAGIC}[array.ndim]
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write `array` as an idx file, gzipped when the name ends in .gz."""
    data = encode(array)
    path = Path(path)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path
