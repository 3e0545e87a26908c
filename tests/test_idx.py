"""Strict idx parsing: every damaged file fails with one line naming the file and the problem."""

import gzip

import numpy as np
import pytest

from fmnist.data import idx
from fmnist.errors import DataError


def test_round_trip_gzipped_and_raw(tmp_path, arrays):
    for name in ("images.gz", "images"):
        path = idx.write_idx(tmp_path / name, arrays["train_images"])
        np.testing.assert_array_equal(idx.read_images(path), arrays["train_images"])
    labels = idx.read_labels(idx.write_idx(tmp_path / "labels.gz", arrays["train_labels"]))
    np.testing.assert_array_equal(labels, arrays["train_labels"])
    assert labels.dtype == np.uint8 and labels.flags.writeable


def test_header_is_the_published_format():
    data = idx.encode(np.zeros((3, 28, 28), np.uint8))
    assert data[:16] == bytes.fromhex("00000803 00000003 0000001c 0000001c")
    assert len(data) == 16 + 3 * 784


def expect_error(func, data, message):
    with pytest.raises(DataError) as caught:
        func(data, "some-file")
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_truncated_images_say_how_many_the_file_holds():
    data = idx.encode(np.zeros((60, 28, 28), np.uint8))[: -784 * 3 - 10]
    expect_error(
        idx.parse_images, data, "some-file: truncated: header says 60 images, file holds 56"
    )


def test_extra_bytes_after_the_images():
    data = idx.encode(np.zeros((2, 28, 28), np.uint8)) + b"\0" * 5
    expect_error(
        idx.parse_images, data, "some-file: 5 bytes after the 2 images the header declares"
    )


def test_wrong_magic_names_what_the_file_looks_like():
    labels = idx.encode(np.zeros(4, np.uint8))
    expect_error(
        idx.parse_images,
        labels,
        "some-file: wrong magic number 2049 (a labels file); expected 2051 for an images file",
    )
    expect_error(
        idx.parse_labels,
        b"\x89PNG\r\n\x1a\n",
        "some-file: wrong magic number 2303741511; expected 2049 for a labels file",
    )


def test_wrong_dimensions():
    data = idx.encode(np.zeros((2, 32, 32), np.uint8))
    expect_error(
        idx.parse_images, data, "some-file: images are 32x32; Fashion-MNIST images are 28x28"
    )


def test_short_files():
    expect_error(idx.parse_labels, b"\0\0", "some-file: 2 bytes, too short for an idx header")
    expect_error(
        idx.parse_images,
        idx.encode(np.zeros((1, 28, 28), np.uint8))[:10],
        "some-file: truncated header (10 of 16 bytes)",
    )


def test_labels_out_of_range():
    labels = np.array([0, 3, 12, 9, 200], np.uint8)
    expect_error(
        idx.parse_labels,
        idx.encode(labels),
        "some-file: label 12 at index 2 is outside 0-9 (2 such labels)",
    )


def test_truncated_gzip(tmp_path, arrays):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    compressed = gzip.compress(idx.encode(arrays["train_images"]))
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(DataError, match=r"^train-images-idx3-ubyte.gz: truncated gzip stream"):
        idx.read_images(path)


def test_corrupt_gzip(tmp_path, arrays):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    compressed = bytearray(gzip.compress(idx.encode(arrays["test_labels"])))
    compressed[-8] ^= 0xFF  # the CRC32 of the content
    path.write_bytes(bytes(compressed))
    with pytest.raises(DataError, match=r"^t10k-labels-idx1-ubyte.gz: corrupt gzip data"):
        idx.read_labels(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        idx.read_labels(tmp_path / "nope.gz")
