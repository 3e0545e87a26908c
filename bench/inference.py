"""Inference speed: batch images per second, and single-image latency (p50, p99) through
fmnist's Predictor, each against `model.predict` called the way the tutorials call it.

    FMNIST_DATA_DIR=../shared/data/fashion-mnist python bench/inference.py --model runs/<run>

Without --model it measures a freshly built default model (same architecture and cost).
Throughput is the median of five passes over the 10,000 test images after one untimed pass.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from common import data_dir, write_result  # noqa: E402
from fmnist.data.dataset import load_dataset  # noqa: E402
from fmnist.predict import Predictor  # noqa: E402
from fmnist.run_folder import resolve_model_path  # noqa: E402
from fmnist.training.models import DEFAULT_MODEL  # noqa: E402


def latencies(call, images, count: int) -> np.ndarray:
    times = []
    for k in range(count):
        started = time.perf_counter()
        call(images[k : k + 1])
        times.append(time.perf_counter() - started)
    return np.array(times) * 1000


def throughput(run, count: int, repeats: int = 5) -> float:
    """Images per second: the median of `repeats` timed passes after one untimed pass."""
    run()
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        rates.append(count / (time.perf_counter() - started))
    return float(np.median(rates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", help=f"Model file or run folder (default: a fresh {DEFAULT_MODEL})."
    )
    parser.add_argument("--singles", type=int, default=300, help="Single-image calls timed.")
    args = parser.parse_args()
    if args.model:
        predictor = Predictor.load(resolve_model_path(args.model)[0])
    else:
        from fmnist.training.models import create_model

        predictor = Predictor(create_model(DEFAULT_MODEL))
    model = predictor.model
    images = load_dataset("folder", data_dir()).test_images
    x = images[..., None].astype(np.float32)

    batch_ours = throughput(lambda: predictor.probabilities(images), len(images))
    # Keras' default batch size, as the tutorials call it.
    batch_keras = throughput(lambda: model.predict(x, batch_size=32, verbose=0), len(images))

    ours = latencies(predictor.probabilities, images, args.singles)
    tutorial = latencies(
        lambda one: model.predict(one.astype(np.float32)[..., None], verbose=0),
        images,
        max(50, args.singles // 3),
    )
    result = {
        "model": args.model or f"{DEFAULT_MODEL} (untrained)",
        "batch_images_per_s": {"predictor": round(batch_ours), "model.predict": round(batch_keras)},
        "single_image_ms": {
            "predictor": {
                "p50": round(float(np.median(ours)), 3),
                "p99": round(float(np.percentile(ours, 99)), 3),
            },
            "model.predict": {
                "p50": round(float(np.median(tutorial)), 3),
                "p99": round(float(np.percentile(tutorial, 99)), 3),
            },
        },
        "single_image_speedup_p50": round(float(np.median(tutorial) / np.median(ours)), 1),
    }
    print(
        f"batch prediction: Predictor {batch_ours:,.0f} images/s, model.predict(batch_size=32) "
        f"{batch_keras:,.0f} images/s"
    )
    for name, row in result["single_image_ms"].items():
        print(f"single image, {name:<13} p50 {row['p50']:8.3f} ms   p99 {row['p99']:8.3f} ms")
    print(f"single-image speed-up (p50): {result['single_image_speedup_p50']}x")
    write_result("inference", result)


if __name__ == "__main__":
    main()
