"""Data loading: time to load all 70,000 images with fmnist, against
keras.datasets.fashion_mnist.load_data() reading the same files (through KERAS_HOME).

    FMNIST_DATA_DIR=../shared/data/fashion-mnist python bench/data_loading.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import data_dir, write_result
from fmnist.data.dataset import load_dataset

KERAS = """
import time, sys
started = time.perf_counter()
from keras.datasets import fashion_mnist
imported = time.perf_counter()
fashion_mnist.load_data()
print(imported - started, time.perf_counter() - imported)
"""


def main(repeats: int = 5) -> None:
    folder = Path(data_dir()).resolve()
    ours = []
    for _ in range(repeats):
        started = time.perf_counter()
        load_dataset("folder", folder)  # parsing, every check, the integrity check
        ours.append(time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as home:
        target = Path(home) / "datasets" / "fashion-mnist"
        target.mkdir(parents=True)
        for name in (
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ):
            (target / name).symlink_to(folder / name)
        env = {**os.environ, "KERAS_HOME": home, "TF_CPP_MIN_LOG_LEVEL": "3"}
        keras = []
        for _ in range(repeats):
            out = subprocess.run(
                [sys.executable, "-c", KERAS], env=env, capture_output=True, text=True, check=True
            ).stdout.split()
            keras.append(float(out[1]))  # load_data alone, not importing Keras
    result = {
        "images": 70000,
        "fmnist_load_dataset_s": round(statistics.median(ours), 3),
        "keras_load_data_s": round(statistics.median(keras), 3),
        "ratio_fmnist_to_keras": round(statistics.median(ours) / statistics.median(keras), 2),
        "repeats": repeats,
        "note": "median of repeats; Keras' time excludes importing Keras and TensorFlow",
    }
    print(
        f"load all 70,000 images: fmnist {result['fmnist_load_dataset_s']:.3f} s "
        f"(with every check), keras {result['keras_load_data_s']:.3f} s "
        f"(no checks); ratio {result['ratio_fmnist_to_keras']}"
    )
    write_result("data_loading", result)


if __name__ == "__main__":
    main()
