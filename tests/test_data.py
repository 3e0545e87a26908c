"""The data layer: folders, integrity, source order, splits, OpenML rows, and Keras' loader."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import NAMES, make_arrays, write_folder
from fmnist.data import dataset as data
from fmnist.data import idx
from fmnist.data.dataset import CLASS_NAMES, load_dataset, split_train_val
from fmnist.errors import DataError


def assert_same(dataset, arrays):
    for key in NAMES:
        np.testing.assert_array_equal(getattr(dataset, key), arrays[key])
        assert getattr(dataset, key).dtype == np.uint8


def test_class_names_in_label_order():
    assert CLASS_NAMES[0] == "T-shirt/top" and CLASS_NAMES[-1] == "Ankle boot"
    assert len(CLASS_NAMES) == 10 and len(set(CLASS_NAMES)) == 10


@pytest.mark.parametrize("gzipped", [True, False])
def test_folder_loads_gzipped_or_raw(tmp_path, arrays, gzipped, isolated_env):
    folder = write_folder(tmp_path / "d", arrays, gzipped=gzipped)
    dataset = load_dataset("folder", folder)
    assert_same(dataset, arrays)
    assert dataset.source == "folder" and dataset.location == str(folder)
    assert dataset.class_names == CLASS_NAMES


def test_missing_file_is_named(synthetic_dir, isolated_env):
    (synthetic_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: missing"):
        load_dataset("folder", synthetic_dir)


def test_image_and_label_counts_must_agree(synthetic_dir, arrays, isolated_env):
    idx.write_idx(synthetic_dir / NAMES["train_labels"], arrays["train_labels"][:-1])
    with pytest.raises(DataError) as caught:
        load_dataset("folder", synthetic_dir)
    assert str(caught.value) == (
        "train-images-idx3-ubyte.gz: holds 60 images but train-labels-idx1-ubyte.gz holds 59 labels"
    )


def mnist_like_labels(split):
    counts = data.MNIST_LABEL_COUNTS[split]
    return np.repeat(np.arange(10, dtype=np.uint8), counts)


def test_mnist_digits_under_fashion_names_are_caught(tmp_path, isolated_env):
    arrays = make_arrays()
    arrays["test_images"] = np.zeros((10000, 28, 28), np.uint8)
    arrays["test_labels"] = mnist_like_labels("test")
    folder = write_folder(tmp_path / "mnist", arrays)
    with pytest.raises(DataError, match=r"^t10k-labels-idx1-ubyte.gz: this is MNIST \(handwritten"):
        load_dataset("folder", folder)


def test_full_size_set_with_unbalanced_classes_is_not_fashion_mnist():
    labels = np.repeat(np.arange(10, dtype=np.uint8), 1000)
    labels[0] = 1
    with pytest.raises(DataError, match="not Fashion-MNIST: label counts"):
        data.check_integrity("test", np.zeros((10000, 28, 28), np.uint8), labels, "x")


def test_auto_prefers_argument_then_environment(tmp_path, isolated_env, monkeypatch):
    first = write_folder(tmp_path / "first", make_arrays(seed=1))
    second = write_folder(tmp_path / "second", make_arrays(seed=2))
    monkeypatch.setenv("FMNIST_DATA_DIR", str(second))
    assert load_dataset(data_dir=first).location == str(first)
    assert load_dataset().location == str(second)


def test_auto_uses_verified_cache_then_keras_cache(trust_synthetic_md5, arrays, isolated_env):
    keras_dir = data.keras_cache_dir()
    write_folder(keras_dir, arrays)
    dataset = load_dataset()
    assert (dataset.source, dataset.location) == ("keras", str(keras_dir))
    cache = Path(os.environ["FMNIST_CACHE_DIR"])
    write_folder(cache, arrays)
    assert load_dataset().source == "cache"
    # A damaged cache file is passed over, not used.
    (cache / NAMES["train_images"]).write_bytes(b"broken")
    assert load_dataset().source == "keras"


def test_keras_source_names_a_truncated_cached_file(trust_synthetic_md5, arrays, isolated_env):
    keras_dir = write_folder(data.keras_cache_dir(), arrays)
    path = keras_dir / NAMES["train_images"]
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: truncated gzip stream"):
        load_dataset("keras")


def test_nothing_found_and_download_fails_is_one_clear_error(isolated_env, monkeypatch):
    monkeypatch.setenv("FMNIST_MIRRORS", "http://127.0.0.1:9/")  # the discard port: refused
    with pytest.raises(DataError, match=r"no mirror gave a verified copy"):
        load_dataset(progress=False)


def test_unknown_source():
    with pytest.raises(DataError, match="unknown data source 'web'"):
        load_dataset("web")


def test_split_is_stratified_seeded_and_disjoint():
    labels = np.repeat(np.arange(10, dtype=np.uint8), 100)
    images = np.zeros((1000, 28, 28), np.uint8)
    images[:, 0, 0], images[:, 0, 1] = np.arange(1000) % 256, np.arange(1000) // 256
    (train_x, train_y), (val_x, val_y) = split_train_val(images, labels, 0.2, seed=3)
    assert np.bincount(val_y).tolist() == [20] * 10
    assert np.bincount(train_y).tolist() == [80] * 10

    def ids(x):
        return set((x[:, 0, 0].astype(int) + 256 * x[:, 0, 1].astype(int)).tolist())

    assert ids(train_x) | ids(val_x) == set(range(1000)) and not ids(train_x) & ids(val_x)
    (_, _), (val_x2, _) = split_train_val(images, labels, 0.2, seed=3)
    (_, _), (val_x3, _) = split_train_val(images, labels, 0.2, seed=4)
    np.testing.assert_array_equal(val_x, val_x2)
    assert not np.array_equal(val_x, val_x3)


def test_split_too_small_for_stratification_is_explained():
    labels = np.arange(60, dtype=np.uint8) % 10
    with pytest.raises(DataError, match="leaves 6 for validation; a stratified split needs"):
        split_train_val(np.zeros((60, 28, 28)), labels, 0.1)


def test_split_rejects_bad_fraction():
    with pytest.raises(DataError, match="val_fraction"):
        split_train_val(np.zeros((10, 28, 28)), np.zeros(10), 1.0)


def openml_rows():
    """70,000 rows laid out as OpenML serves Fashion-MNIST: train rows, then test rows."""
    arrays = make_arrays(60000, 10000, seed=5)
    images = np.concatenate([arrays["train_images"], arrays["test_images"]]).reshape(70000, 784)
    target = np.concatenate([arrays["train_labels"], arrays["test_labels"]]).astype(str)
    return arrays, images.astype(np.float64), target


def test_openml_rows_become_the_original_split():
    arrays, rows, target = openml_rows()
    dataset = data.dataset_from_openml(rows, target)
    assert_same(dataset, arrays)
    assert dataset.source == "openml"


def test_openml_reordered_rows_are_refused():
    _, rows, target = openml_rows()
    order = np.random.default_rng(0).permutation(70000)
    with pytest.raises(DataError, match=r"OpenML rows \(train\): not Fashion-MNIST"):
        data.dataset_from_openml(rows[order], target[order])


def test_openml_source_goes_through_fetch_openml(monkeypatch, tmp_path):
    import sklearn.datasets
    from sklearn.utils import Bunch

    arrays, rows, target = openml_rows()
    calls = {}

    def fake_fetch(name, **kwargs):
        calls.update(name=name, **kwargs)
        return Bunch(data=rows, target=target)

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_fetch)
    dataset = load_dataset("openml", cache_dir=tmp_path)
    assert calls["name"] == "Fashion-MNIST" and calls["as_frame"] is False
    assert Path(calls["data_home"]) == tmp_path / "openml"
    assert_same(dataset, arrays)


def test_summary_counts(synthetic_dir, isolated_env):
    summary = data.summarize(load_dataset("folder", synthetic_dir))
    train = summary["splits"]["train"]
    assert train["images_shape"] == [60, 28, 28] and train["images_dtype"] == "uint8"
    assert list(train["class_counts"].values()) == [6] * 10
    assert list(train["class_counts"]) == list(CLASS_NAMES)


KERAS_REFERENCE = """
import sys, numpy as np
from keras.datasets import fashion_mnist
(x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
np.savez(sys.argv[1], x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
"""


@pytest.mark.slow
def test_real_data_equals_keras_loader(real_data_dir, tmp_path, monkeypatch):
    """Reference: keras.datasets.fashion_mnist reads the same files through KERAS_HOME.
    In a fresh process, because Keras reads KERAS_HOME once, when it is imported."""
    keras_dir = tmp_path / "keras-home" / "datasets" / "fashion-mnist"
    keras_dir.mkdir(parents=True)
    for name in NAMES.values():
        (keras_dir / name).symlink_to((real_data_dir / name).resolve())
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras-home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = tmp_path / "keras.npz"
    subprocess.run(
        [sys.executable, "-c", KERAS_REFERENCE, str(out)], env=env, check=True, capture_output=True
    )
    theirs = np.load(out)
    ours = load_dataset("folder", real_data_dir)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        mine = getattr(ours, {"x": "{}_images", "y": "{}_labels"}[key[0]].format(key[2:]))
        assert mine.dtype == theirs[key].dtype and mine.shape == theirs[key].shape
        np.testing.assert_array_equal(mine, theirs[key])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    assert load_dataset("keras").source == "keras"


def test_real_data_summary(real_data_dir):
    summary = data.summarize(load_dataset("folder", real_data_dir))
    assert summary["splits"]["train"]["images_shape"] == [60000, 28, 28]
    assert set(summary["splits"]["train"]["class_counts"].values()) == {6000}
    assert set(summary["splits"]["test"]["class_counts"].values()) == {1000}
    images = load_dataset("folder", real_data_dir).train_images / 255.0
    assert images.mean() == pytest.approx(data.PIXEL_MEAN, abs=1e-6)
    assert images.std() == pytest.approx(data.PIXEL_STD, abs=1e-6)
