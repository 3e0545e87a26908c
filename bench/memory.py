"""Peak resident memory of a training run and of the prediction service.

    FMNIST_DATA_DIR=../shared/data/fashion-mnist python bench/memory.py [--model lean_cnn]

Training: `fmnist train` in a child process (one epoch by default), its peak RSS from
getrusage. Service: `fmnist serve` on a loopback port, answering 200 photo uploads, its
peak RSS (VmHWM) from /proc.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from common import data_dir, write_result
from fmnist.run_folder import RunFolder
from fmnist.training.models import DEFAULT_MODEL
from load_test import multipart, photo_bytes, run_level, start_service

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def training_peak_mb(model: str, epochs: int, runs_dir: Path) -> float:
    command = [
        sys.executable,
        "-m",
        "fmnist",
        "train",
        "--model",
        model,
        "--epochs",
        str(epochs),
        "--data-dir",
        data_dir(),
        "--runs-dir",
        str(runs_dir),
    ]
    subprocess.run(command, env=ENV, check=True, stdout=subprocess.DEVNULL)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB -> MiB


def service_peak_mb(model_path: Path) -> float:
    process, url = start_service(str(model_path))
    try:
        run_level(url, multipart(photo_bytes()), 8, 200, 60)
        with urllib.request.urlopen(url + "/healthz", timeout=5):
            pass
        status = Path(f"/proc/{process.pid}/status").read_text()
        peak_kib = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
    return peak_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"Model to train (default: {DEFAULT_MODEL})."
    )
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        train_mb = training_peak_mb(args.model, args.epochs, Path(folder))
        (run_dir,) = Path(folder).iterdir()
        serve_mb = service_peak_mb(RunFolder(run_dir).model_path)
    result = {
        "model": args.model,
        "training_epochs": args.epochs,
        "training_peak_rss_mb": round(train_mb),
        "service_peak_rss_mb": round(serve_mb),
    }
    print(
        f"peak resident memory: training {args.model} ({args.epochs} epoch) {train_mb:,.0f} MB, "
        f"service under load {serve_mb:,.0f} MB"
    )
    write_result("memory", result)


if __name__ == "__main__":
    main()
