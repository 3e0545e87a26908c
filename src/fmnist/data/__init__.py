"""The data: Fashion-MNIST's four files (sources, checks, splits) and what they hold.

    >>> from fmnist.data import load_dataset, split_train_val, CLASS_NAMES  # doctest: +SKIP
    >>> data = load_dataset(data_dir="../shared/data/fashion-mnist")  # doctest: +SKIP

- `dataset`: loading from a folder, the cache, a download, Keras or OpenML; the splits.
- `download`: the official mirrors, MD5-verified; `idx`: the file format.
- `explore`: statistics and figures of the data set.
- `photo_sets`: folders of labelled photos and the file that maps them to classes.
"""

from fmnist.data.dataset import (
    CLASS_NAMES,
    ENV_DATA_DIR,
    PIXEL_MEAN,
    PIXEL_STD,
    SOURCES,
    Dataset,
    Splits,
    format_summary,
    load_dataset,
    locate,
    make_splits,
    split_train_val,
    summarize,
)

__all__ = [
    "CLASS_NAMES",
    "ENV_DATA_DIR",
    "PIXEL_MEAN",
    "PIXEL_STD",
    "SOURCES",
    "Dataset",
    "Splits",
    "format_summary",
    "load_dataset",
    "locate",
    "make_splits",
    "split_train_val",
    "summarize",
]
