"""Look at the data before training: statistics and the figures the tutorials draw.

    >>> data = load_dataset()  # doctest: +SKIP
    >>> stats = dataset_statistics(data)  # JSON-ready dict  # doctest: +SKIP
    >>> figure = class_samples_grid(images, labels, CLASS_NAMES)  # doctest: +SKIP
    >>> paths = write_exploration(data, "out/explore")  # statistics and six PNGs  # doctest: +SKIP

Figures come back as matplotlib Figures; `write_exploration` saves them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from fmnist.data.dataset import Dataset
from fmnist.plots import image_grid, new_figure, save_figure, show_image
from fmnist.run_folder import exploration_paths, write_json
from fmnist.terminal import render_table

# --- statistics -----------------------------------------------------------------------


def class_balance(labels: np.ndarray, class_names) -> dict:
    counts = np.bincount(labels, minlength=len(class_names))
    ratio = float(counts.max() / counts.min()) if counts.min() else float("inf")
    return {
        "counts": dict(zip(class_names, counts.tolist(), strict=True)),
        "balanced": bool(counts.max() == counts.min()),
        "max_min_ratio": round(ratio, 4),
    }


def pixel_statistics(images: np.ndarray, labels: np.ndarray, class_names) -> dict:
    """Mean and std of the 0-255 pixels, overall and per class."""
    pixels = images.reshape(len(images), -1).astype(np.float64)
    per_class = {
        name: {
            "mean": round(float(pixels[labels == k].mean()), 4),
            "std": round(float(pixels[labels == k].std()), 4),
        }
        for k, name in enumerate(class_names)
        if np.any(labels == k)
    }
    return {
        "mean": round(float(pixels.mean()), 4),
        "std": round(float(pixels.std()), 4),
        "per_class": per_class,
    }


def image_keys(images: np.ndarray) -> list[bytes]:
    return [image.tobytes() for image in np.ascontiguousarray(images)]


def duplicates(train_x, train_y, test_x, test_y) -> dict:
    """Exact duplicate images: copies within each split, test images also in train, and
    duplicates whose labels disagree."""
    result = {}
    first_label: dict[bytes, int] = {}
    conflicts = 0
    for split, images, labels in (("train", train_x, train_y), ("test", test_x, test_y)):
        keys = image_keys(images)
        result[f"within_{split}"] = len(keys) - len(set(keys))
        if split == "test":
            train_keys = set(first_label)
            result["test_in_train"] = sum(key in train_keys for key in keys)
        for key, label in zip(keys, labels.tolist(), strict=True):
            if first_label.setdefault(key, label) != label:
                conflicts += 1
    result["label_conflicts"] = conflicts
    return result


def dataset_statistics(data: Dataset) -> dict:
    """Shapes, dtypes, value range, class balance, pixel statistics and duplicates."""
    stats = {"source": data.source, "location": data.location, "splits": {}}
    for split in ("train", "test"):
        images, labels = getattr(data, f"{split}_images"), getattr(data, f"{split}_labels")
        stats["splits"][split] = {
            "images_shape": list(images.shape),
            "images_dtype": str(images.dtype),
            "labels_shape": list(labels.shape),
            "labels_dtype": str(labels.dtype),
            "value_range": [int(images.min()), int(images.max())],
            "classes": class_balance(labels, data.class_names),
            "pixels": pixel_statistics(images, labels, data.class_names),
        }
    stats["duplicates"] = duplicates(
        data.train_images, data.train_labels, data.test_images, data.test_labels
    )
    return stats


def format_statistics(stats: dict) -> str:
    """A readable table of the statistics, for the terminal."""
    lines = [f"Source: {stats['source']} ({stats['location']})"]
    splits = stats["splits"]
    for split, info in splits.items():
        balance = info["classes"]
        lines.append(
            f"{split:<5} images {tuple(info['images_shape'])} {info['images_dtype']}, values "
            f"{info['value_range'][0]}-{info['value_range'][1]}, pixel mean "
            f"{info['pixels']['mean']:.2f} std {info['pixels']['std']:.2f}, balanced: "
            f"{'yes' if balance['balanced'] else 'no'} (max/min {balance['max_min_ratio']:.2f})"
        )
    train, rows = splits["train"], []
    for name, count in train["classes"]["counts"].items():
        pixels = train["pixels"]["per_class"].get(name, {"mean": 0.0, "std": 0.0})
        test_count = splits["test"]["classes"]["counts"][name]
        rows.append([name, count, test_count, f"{pixels['mean']:.2f}", f"{pixels['std']:.2f}"])
    header = ["class", "train", "test", "mean", "std"]
    lines += ["", render_table(header, rows, numeric={1, 2, 3, 4})]
    d = stats["duplicates"]
    lines.append(
        f"\nDuplicate images: {d['within_train']} within train, {d['within_test']} within test, "
        f"{d['test_in_train']} test images also in train, {d['label_conflicts']} with "
        f"conflicting labels"
    )
    return "\n".join(lines)


# --- figures --------------------------------------------------------------------------


def first_images_grid(images, labels, class_names, rows: int = 2, cols: int = 5) -> Figure:
    """The first rows x cols images with their class names, as the tutorials show them."""
    count = min(rows * cols, len(images))
    titles = [class_names[label] for label in labels[:count]]
    return image_grid(
        images[:count],
        titles,
        columns=cols,
        fontsize=9,
        title=f"The first {rows * cols} training images",
    )


def class_samples_grid(images, labels, class_names, per_class: int = 8, seed: int = 0) -> Figure:
    """One row per class with `per_class` random samples; the class name on the left."""
    rng = np.random.default_rng(seed)
    n = len(class_names)
    figure, axes = new_figure(n, per_class, figsize=(1.1 * per_class + 1.2, 1.15 * n))
    for k, name in enumerate(class_names):
        pool = np.flatnonzero(labels == k)
        picks = rng.choice(pool, size=min(per_class, len(pool)), replace=False) if len(pool) else []
        for j in range(per_class):
            axis = axes[k, j]
            if j < len(picks):
                show_image(axis, images[picks[j]])
            else:
                axis.axis("off")
        axes[k, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    figure.suptitle(f"{per_class} random samples of each class")
    figure.tight_layout()
    return figure


def class_distribution(train_labels, test_labels, class_names) -> Figure:
    """Images per class, train and test side by side."""
    positions = np.arange(len(class_names))
    figure, axis = new_figure(figsize=(10, 4.2))
    for offset, labels, name in ((-0.2, train_labels, "train"), (0.2, test_labels, "test")):
        counts = np.bincount(labels, minlength=len(class_names))
        bars = axis.bar(positions + offset, counts, width=0.4, label=f"{name} ({len(labels):,})")
        axis.bar_label(bars, fontsize=7)
    axis.set_xticks(positions, class_names, rotation=30, ha="right")
    axis.set(title="Class distribution", ylabel="images")
    axis.set_ylim(0, axis.get_ylim()[1] * 1.2)  # headroom: the legend sits above the bars
    axis.legend(loc="upper center", ncols=2)
    figure.tight_layout()
    return figure


def class_means(images, labels, class_names) -> Figure:
    """The mean image of each class."""
    columns = (len(class_names) + 1) // 2
    figure, axes = new_figure(2, columns, figsize=(10, 4.8), layout="constrained")
    for k, axis in enumerate(np.ravel(axes)):
        if k < len(class_names) and np.any(labels == k):
            show_image(axis, images[labels == k].mean(axis=0), class_names[k])
        else:
            axis.axis("off")
    figure.suptitle("Mean image of each class")
    return figure


def pixel_histogram(train_images, test_images) -> Figure:
    """Distribution of pixel intensities (log scale: most pixels are background)."""
    figure, axis = new_figure(figsize=(8, 4))
    bins = np.arange(257)
    for images, name in ((train_images, "train"), (test_images, "test")):
        counts = np.bincount(images.ravel(), minlength=256) / images.size
        axis.stairs(counts, bins, label=name, fill=name == "train", alpha=0.6)
    axis.set(
        title="Pixel intensity histogram",
        xlabel="pixel value (0 = background)",
        ylabel="fraction of pixels",
        yscale="log",
        xlim=(0, 256),
    )
    axis.legend()
    figure.tight_layout()
    return figure


def embedding(
    images, labels, class_names, method: str = "pca", sample: int = 2000, seed: int = 0
) -> Figure:
    """A 2-D embedding (PCA, or t-SNE) of a random sample, coloured by class."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(images), size=min(sample, len(images)), replace=False)
    x = images[picks].reshape(len(picks), -1).astype(np.float32) / 255
    if method == "tsne":
        from sklearn.manifold import TSNE

        points = TSNE(2, init="pca", random_state=seed, perplexity=min(30, len(x) - 1))
        points = points.fit_transform(x)
    else:
        from sklearn.decomposition import PCA

        points = PCA(2, random_state=seed).fit_transform(x)
    figure, axis = new_figure(figsize=(8.5, 6.5))
    colors = colormaps["tab10"]
    for k, name in enumerate(class_names):
        chosen = labels[picks] == k
        axis.scatter(*points[chosen].T, s=6, color=colors(k), label=name, alpha=0.7)
    axis.set(
        title=f"{method.upper() if method == 'pca' else 't-SNE'} of {len(picks)} training images",
        xlabel="component 1",
        ylabel="component 2",
    )
    axis.legend(markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    figure.tight_layout()
    return figure


def write_exploration(
    data: Dataset, out: Path | str, seed: int = 0, method: str = "pca"
) -> list[Path]:
    """Write the statistics (JSON) and the six figures into `out`; return their paths."""
    Path(out).mkdir(parents=True, exist_ok=True)
    stats_path, figure_paths = exploration_paths(out)
    write_json(stats_path, dataset_statistics(data))
    names, tx, ty = data.class_names, data.train_images, data.train_labels
    figures = (
        first_images_grid(tx, ty, names),
        class_samples_grid(tx, ty, names, seed=seed),
        class_distribution(ty, data.test_labels, names),
        class_means(tx, ty, names),
        pixel_histogram(tx, data.test_images),
        embedding(tx, ty, names, method=method, seed=seed),
    )
    paths = [save_figure(f, p) for f, p in zip(figures, figure_paths.values(), strict=True)]
    return [stats_path, *paths]
