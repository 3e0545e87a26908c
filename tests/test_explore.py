"""Exploration: statistics equal hand-computed values; figures have their panels and titles."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_folder
from fmnist.cli import main
from fmnist.data import explore
from fmnist.data.dataset import CLASS_NAMES, Dataset, load_dataset
from fmnist.run_folder import exploration_paths


@pytest.fixture
def small():
    """A hand-checkable set: train has 3 of class 0 (one a duplicate) and 1 of class 1."""
    a = np.full((28, 28), 10, np.uint8)
    b = np.full((28, 28), 30, np.uint8)
    c = np.zeros((28, 28), np.uint8)
    c[0, 0] = 255
    train_x = np.stack([a, a, b, c])
    train_y = np.array([0, 0, 0, 1], np.uint8)
    test_x = np.stack([b, c, a])
    test_y = np.array([1, 1, 0], np.uint8)  # b in test is labelled 1, in train 0
    return Dataset(train_x, train_y, test_x, test_y, class_names=("zero", "one"), source="s")


def test_statistics_by_hand(small):
    stats = explore.dataset_statistics(small)
    train = stats["splits"]["train"]
    assert train["images_shape"] == [4, 28, 28] and train["value_range"] == [0, 255]
    assert train["classes"] == {
        "counts": {"zero": 3, "one": 1},
        "balanced": False,
        "max_min_ratio": 3.0,
    }
    assert train["pixels"]["mean"] == pytest.approx((10 + 10 + 30 + 255 / 784) / 4, abs=1e-4)
    zero = np.array([10] * 784 * 2 + [30] * 784, float)
    assert train["pixels"]["per_class"]["zero"]["mean"] == pytest.approx(zero.mean(), abs=1e-4)
    assert train["pixels"]["per_class"]["zero"]["std"] == pytest.approx(zero.std(), abs=1e-4)
    assert stats["splits"]["test"]["classes"]["balanced"] is False
    assert stats["duplicates"] == {
        "within_train": 1,
        "within_test": 0,
        "test_in_train": 3,
        "label_conflicts": 1,
    }
    assert "1 with conflicting labels" in explore.format_statistics(stats)


def test_balanced_set_says_so():
    labels = np.repeat(np.arange(10, dtype=np.uint8), 5)
    balance = explore.class_balance(labels, CLASS_NAMES)
    assert balance["balanced"] is True and balance["max_min_ratio"] == 1.0


def panels(figure):
    return [axis for axis in figure.axes if axis.get_visible() and axis.axison]


def test_figures_have_their_panels_and_titles(arrays):
    names = CLASS_NAMES
    x, y = arrays["train_images"], arrays["train_labels"]
    first = explore.first_images_grid(x, y, names)
    assert len(panels(first)) == 10
    assert [a.get_title() for a in first.axes] == [names[k] for k in y[:10]]
    grid = explore.class_samples_grid(x, y, names, per_class=4)
    assert len(panels(grid)) == 40
    assert [grid.axes[4 * k].get_ylabel() for k in range(10)] == list(names)
    bars = explore.class_distribution(y, arrays["test_labels"], names)
    assert bars.axes[0].get_title() == "Class distribution"
    assert [t.get_text() for t in bars.axes[0].get_xticklabels()] == list(names)
    means = explore.class_means(x, y, names)
    assert [a.get_title() for a in means.axes] == list(names)
    histogram = explore.pixel_histogram(x, arrays["test_images"])
    assert histogram.axes[0].get_xlabel().startswith("pixel value")
    pca = explore.embedding(x, y, names, sample=50)
    assert [t.get_text() for t in pca.axes[0].get_legend().get_texts()] == list(names)


def test_tsne_option(arrays):
    figure = explore.embedding(
        arrays["train_images"], arrays["train_labels"], CLASS_NAMES, method="tsne", sample=40
    )
    assert figure.axes[0].get_title().startswith("t-SNE of 40")


def test_command_writes_every_file(tmp_path, arrays):
    folder = write_folder(tmp_path / "d", arrays)
    result = CliRunner().invoke(
        main, ["explore", "--data-dir", str(folder), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    stats, figures = exploration_paths(tmp_path / "out")
    written = sorted((tmp_path / "out").iterdir())
    assert written == sorted([stats, *figures.values()])
    for path in figures.values():
        assert path.read_bytes()[:4] == b"\x89PNG"
    assert "balanced: yes" in result.output


def test_real_data_counts(real_data_dir):
    stats = explore.dataset_statistics(load_dataset("folder", real_data_dir))
    for split, count in (("train", 6000), ("test", 1000)):
        classes = stats["splits"][split]["classes"]
        assert set(classes["counts"].values()) == {count} and classes["balanced"]
    json.dumps(stats)  # JSON-ready
