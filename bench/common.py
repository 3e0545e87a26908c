"""Shared by the benchmarks: the data folder, a result writer, the machine's description."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def data_dir() -> str:
    folder = os.environ.get("FMNIST_DATA_DIR")
    if not folder:
        raise SystemExit("set FMNIST_DATA_DIR to the folder with the four Fashion-MNIST files")
    return folder


def machine() -> dict:
    from fmnist.machine import describe_machine

    return {**describe_machine(), "date": time.strftime("%Y-%m-%d")}


def write_result(name: str, result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps({"benchmark": name, **result, "machine": machine()}, indent=2) + "\n"
    )
    print(f"wrote {path}")
    return path
