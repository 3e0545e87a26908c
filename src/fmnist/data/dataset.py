"""The Fashion-MNIST data set: find it, fetch it, verify it, load it, split it.

    >>> data = load_dataset(data_dir="../shared/data/fashion-mnist")  # doctest: +SKIP
    >>> data.train_images.shape, data.test_labels.shape  # doctest: +SKIP
    ((60000, 28, 28), (10000,))

Sources (`source=`): "folder" (a directory with the four idx files), "download"
(Zalando's mirror, then the one Keras uses, into the per-user cache), "keras"
(the files Keras already downloaded), "openml" (scikit-learn's fetch_openml), and
"auto": the data_dir argument, $FMNIST_DATA_DIR, the cache, the Keras cache, a
download, in that order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist import cache
from fmnist.data import idx
from fmnist.data.download import MD5, MIRRORS, download, folder_is_verified
from fmnist.errors import DataError

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
SPLITS = {  # split -> (images file, labels file), Zalando's names
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SOURCES = ("auto", "folder", "download", "keras", "openml")
SPLIT_SIZES = {"train": 60000, "test": 10000}
# Label counts of MNIST's handwritten digits: Fashion-MNIST has exactly 6000 / 1000 per class.
MNIST_LABEL_COUNTS = {
    "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
}
# Pixel statistics of the 60,000 training images scaled to [0, 1].
PIXEL_MEAN = 0.2860406
PIXEL_STD = 0.3530242
ENV_DATA_DIR = "FMNIST_DATA_DIR"


@dataclass(frozen=True)
class Dataset:
    """The four arrays, the class names, and where they came from."""

    train_images: np.ndarray  # (60000, 28, 28) uint8, 0 = background
    train_labels: np.ndarray  # (60000,) uint8 in 0-9
    test_images: np.ndarray  # (10000, 28, 28) uint8
    test_labels: np.ndarray  # (10000,) uint8
    class_names: tuple[str, ...] = CLASS_NAMES
    source: str = "folder"
    location: str = ""


def find_file(folder: Path, name: str) -> Path:
    """`name` in `folder`, gzipped or not; a DataError naming both when neither is there."""
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    raise DataError(f"{folder / name}: missing (also looked for {name.removesuffix('.gz')})")


def read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one split from a folder, checked against each other."""
    images_path, labels_path = (find_file(folder, name) for name in SPLITS[split])
    images, labels = idx.read_images(images_path), idx.read_labels(labels_path)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path.name}: holds {len(images)} images but {labels_path.name} "
            f"holds {len(labels)} labels"
        )
    return images, labels


def check_integrity(split: str, images: np.ndarray, labels: np.ndarray, name: str) -> None:
    """Catch a whole set that parses but is not Fashion-MNIST (MNIST digits, above all)."""
    if len(labels) != SPLIT_SIZES[split]:
        return  # a subset or synthetic set: nothing to compare with
    counts = tuple(np.bincount(labels, minlength=10).tolist())
    if counts == MNIST_LABEL_COUNTS[split]:
        raise DataError(
            f"{name}: this is MNIST (handwritten digits), not Fashion-MNIST: its label counts "
            f"are MNIST's; run `fmnist data download` for the right files"
        )
    expected = SPLIT_SIZES[split] // 10
    if set(counts) != {expected}:
        raise DataError(
            f"{name}: not Fashion-MNIST: label counts {list(counts)}, expected {expected} per class"
        )


def load_folder(folder: Path, source: str = "folder") -> Dataset:
    """Load the four idx files from `folder` with every check."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: not a directory")
    arrays = {}
    for split, (_, labels_name) in SPLITS.items():
        images, labels = read_split(folder, split)
        check_integrity(split, images, labels, find_file(folder, labels_name).name)
        arrays[split] = (images, labels)
    (train_x, train_y), (test_x, test_y) = arrays["train"], arrays["test"]
    return Dataset(train_x, train_y, test_x, test_y, source=source, location=str(folder))


def keras_cache_dir() -> Path:
    """Where keras.datasets.fashion_mnist.load_data() keeps its files."""
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    return keras_home / "datasets" / "fashion-mnist"


def dataset_from_openml(data: np.ndarray, target: np.ndarray) -> Dataset:
    """Fashion-MNIST arrays from OpenML's 70,000 rows (data set 40996).

    OpenML keeps Zalando's order: the 60,000 training rows, then the 10,000 test
    rows, each in idx-file order. The label counts of both parts are checked, so a
    reordered table fails here instead of mixing test images into training.
    """
    data, target = np.asarray(data), np.asarray(target)
    if data.shape != (70000, 784):
        raise DataError(f"OpenML Fashion-MNIST: data shape {data.shape}, expected (70000, 784)")
    if data.min() < 0 or data.max() > 255 or not np.all(np.mod(data, 1) == 0):
        raise DataError("OpenML Fashion-MNIST: pixel values are not integers in 0-255")
    images = data.astype(np.uint8).reshape(-1, 28, 28)
    labels = target.astype(np.int64)
    if labels.min() < 0 or labels.max() > 9:
        raise DataError("OpenML Fashion-MNIST: labels outside 0-9")
    labels = labels.astype(np.uint8)
    train, test = slice(0, 60000), slice(60000, None)
    for split, part in (("train", train), ("test", test)):
        check_integrity(split, images[part], labels[part], f"OpenML rows ({split})")
    return Dataset(
        images[train],
        labels[train],
        images[test],
        labels[test],
        source="openml",
        location="https://www.openml.org/d/40996",
    )


def load_openml(cache_dir: Path | None = None) -> Dataset:
    """Fetch Fashion-MNIST through scikit-learn's OpenML client (cached under `cache_dir`)."""
    from sklearn.datasets import fetch_openml

    data_home = Path(cache_dir or cache.cache_dir()) / "openml"
    try:
        bunch = fetch_openml(
            "Fashion-MNIST", version=1, as_frame=False, data_home=data_home, parser="liac-arff"
        )
    except OSError as error:
        raise DataError(f"OpenML: cannot fetch Fashion-MNIST: {error}") from None
    return dataset_from_openml(bunch.data, bunch.target)


def locate(data_dir: Path | str | None = None, cache_dir: Path | None = None) -> tuple[str, Path]:
    """The first place holding the data, as (source, folder): the argument, the
    environment variable, the verified cache, the Keras cache. DataError if none."""
    if data_dir:
        return "folder", Path(data_dir).expanduser()
    if os.environ.get(ENV_DATA_DIR):
        return "folder", Path(os.environ[ENV_DATA_DIR]).expanduser()
    cached = Path(cache_dir or cache.cache_dir())
    if folder_is_verified(cached):
        return "cache", cached
    if folder_is_verified(keras_cache_dir()):
        return "keras", keras_cache_dir()
    raise DataError(
        f"no Fashion-MNIST files found: pass --data-dir, set {ENV_DATA_DIR}, or run "
        f"`fmnist data download` (cache: {cached})"
    )


def load_dataset(
    source: str = "auto",
    data_dir: Path | str | None = None,
    cache_dir: Path | None = None,
    mirrors: tuple[str, ...] = MIRRORS,
    progress: bool = True,
) -> Dataset:
    """Load Fashion-MNIST from `source` (see the module docstring for the order of "auto")."""
    if source not in SOURCES:
        raise DataError(f"unknown data source {source!r}; choose from {', '.join(SOURCES)}")
    if source == "openml":
        return load_openml(cache_dir)
    if source == "folder":
        if not (data_dir or os.environ.get(ENV_DATA_DIR)):
            raise DataError(f"source 'folder' needs --data-dir or {ENV_DATA_DIR}")
        _, folder = locate(data_dir)
        return load_folder(folder)
    if source == "keras":
        folder = keras_cache_dir()
        if not folder_is_verified(folder, raise_on_mismatch=True):
            raise DataError(f"{folder}: the Keras cache does not hold the four files")
        return load_folder(folder, source="keras")
    if source == "download":
        return load_folder(download(cache_dir, mirrors, progress), source="download")
    try:
        where, folder = locate(data_dir, cache_dir)
    except DataError:
        return load_folder(download(cache_dir, mirrors, progress), source="download")
    return load_folder(folder, source=where)


def split_train_val(
    images: np.ndarray, labels: np.ndarray, val_fraction: float = 0.1, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A stratified ((train_x, train_y), (val_x, val_y)) split: each class keeps its share."""
    if not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction: {val_fraction} is not in [0, 1)")
    if val_fraction == 0:
        return (images, labels), (images[:0], labels[:0])
    classes, n_val = len(np.unique(labels)), int(np.ceil(val_fraction * len(labels)))
    if n_val < classes or len(labels) - n_val < classes:
        raise DataError(
            f"val_fraction: {val_fraction} of {len(labels)} images leaves {n_val} for validation; "
            f"a stratified split needs at least one image per class ({classes}) on each side"
        )
    from sklearn.model_selection import train_test_split

    train_x, val_x, train_y, val_y = train_test_split(
        images, labels, test_size=val_fraction, stratify=labels, random_state=seed
    )
    return (train_x, train_y), (val_x, val_y)


@dataclass(frozen=True)
class Splits:
    """A run's three sets of raw images and integer labels."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def make_splits(dataset: Dataset, config) -> Splits:
    """Training, validation and test sets of a run, by its config's `val_fraction`, `seed`
    and `validate_on_test`: the one split that training and evaluation both use, so
    `fmnist evaluate --split val` sees the run's own validation set. With
    `validate_on_test`, the test set doubles as validation (as two tutorials do)."""
    test = (dataset.test_images, dataset.test_labels)
    if config.validate_on_test:
        return Splits(dataset.train_images, dataset.train_labels, *test, *test)
    (train_x, train_y), (val_x, val_y) = split_train_val(
        dataset.train_images, dataset.train_labels, config.val_fraction, config.seed
    )
    return Splits(train_x, train_y, val_x, val_y, *test)


def summarize(dataset: Dataset) -> dict:
    """Shapes, dtypes, class counts and pixel statistics of both splits, JSON-ready."""
    summary = {"source": dataset.source, "location": dataset.location, "splits": {}}
    for split in ("train", "test"):
        images, labels = getattr(dataset, f"{split}_images"), getattr(dataset, f"{split}_labels")
        counts = np.bincount(labels, minlength=len(dataset.class_names)).tolist()
        summary["splits"][split] = {
            "images_shape": list(images.shape),
            "images_dtype": str(images.dtype),
            "labels_shape": list(labels.shape),
            "labels_dtype": str(labels.dtype),
            "class_counts": dict(zip(dataset.class_names, counts, strict=True)),
            "pixel_mean": round(float(images.mean()), 4),
            "pixel_std": round(float(images.std()), 4),
        }
    return summary


def format_summary(summary: dict) -> str:
    """The summary as readable tables, for the terminal."""
    from fmnist.terminal import render_table

    splits = summary["splits"]
    shapes = [
        [split, f"{tuple(info['images_shape'])} {info['images_dtype']}",
         f"{tuple(info['labels_shape'])} {info['labels_dtype']}",
         f"{info['pixel_mean']:.2f}", f"{info['pixel_std']:.2f}"]
        for split, info in splits.items()
    ]  # fmt: skip
    counts = [
        [name, count, splits["test"]["class_counts"][name]]
        for name, count in splits["train"]["class_counts"].items()
    ]
    return "\n\n".join(
        [
            f"Source: {summary['source']}  ({summary['location']})",
            render_table(["split", "images", "labels", "pixel mean", "std"], shapes, {3, 4}),
            render_table(["class", "train", "test"], counts, numeric={1, 2}),
        ]
    )


__all__ = [
    "CLASS_NAMES", "MD5", "Dataset", "Splits", "load_dataset", "split_train_val", "make_splits",
    "summarize", "locate", "download",
]  # fmt: skip
