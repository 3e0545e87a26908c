"""A new model version under load: `fmnist serve` answering 8 connections without a pause
while its model file is replaced (as `fmnist adapt` replaces it) several times; counts the
failed requests (the target is none) and the latency percentiles.

    python bench/reload_under_load.py --model runs/<run>
    python bench/reload_under_load.py --model runs/<run> --connections 8 --swaps 3

The load is `wrk` where it is installed (Debian's package), else a Python client. The run
folder is copied first; the copy's model is rewritten with alternately its own
weights and the same weights nudged, each write atomic. Traffic goes to 127.0.0.1 only.
Writes bench/results/reload_under_load.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

from common import write_result
from fmnist.run_folder import RunFolder
from load_test import multipart, photo_bytes, run_wrk, start_service, stop


def request(port: int, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/v1/predict", body, {"content-type": "image/png"})
        status = connection.getresponse().status
    except OSError:
        status = 0
    finally:
        connection.close()
    return status, 1000 * (time.perf_counter() - started)


def rewrite(model_path: Path, nudge: bool) -> None:
    """The model saved again (atomically, as fmnist adapt saves), weights nudged or not."""
    from fmnist.artifacts import load_model_with_metadata, save_model

    model, info = load_model_with_metadata(model_path)
    if nudge:
        weights = model.get_weights()
        weights[-1] = weights[-1] + 0.01
        model.set_weights(weights)
    kept = {k: v for k, v in info.items() if k not in ("class_names", "input")}
    save_model(model, model_path, info["class_names"], kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="A run folder.")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--swaps", type=int, default=3)
    parser.add_argument("--gap", type=float, default=6.0, help="Seconds between swaps.")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="fmnist-reload-"))
    run = scratch / "run"
    shutil.copytree(args.model, run)
    server, url = start_service(str(run))
    port = int(url.rsplit(":", 1)[1])
    try:
        if shutil.which("wrk"):
            row = with_wrk(url, run, args)
        else:
            row = with_python_client(port, run, args)
        deadline = time.monotonic() + 60  # a reload still under way when the load ended
        while scrape_reloads(port) < args.swaps and time.monotonic() < deadline:
            time.sleep(0.5)
        row["reloads"] = scrape_reloads(port)
    finally:
        stop(server)
        shutil.rmtree(scratch, ignore_errors=True)
    row.update(connections=args.connections, swaps=args.swaps)
    print(json.dumps(row, indent=2))
    write_result("reload_under_load", row)


def swap(run: Path, args) -> None:
    for k in range(args.swaps):
        time.sleep(args.gap)
        rewrite(RunFolder(run).model_path, nudge=k % 2 == 0)


def with_wrk(url: str, run: Path, args) -> dict:
    """wrk for the whole time (8 connections by default), the swaps meanwhile."""
    seconds = args.gap * (args.swaps + 1)
    result = {}
    load = threading.Thread(
        target=lambda: result.update(
            run_wrk(url, multipart(photo_bytes()), args.connections, seconds)
        )
    )
    load.start()
    swap(run, args)
    load.join()
    return {**result, "failed": result["errors"]}


def with_python_client(port: int, run: Path, args) -> dict:
    results: list[tuple[float, int, float]] = []
    done = threading.Event()
    body = photo_bytes()

    def connection():
        while not done.is_set():
            status, ms = request(port, body)
            results.append((time.perf_counter(), status, ms))

    threads = [threading.Thread(target=connection) for _ in range(args.connections)]
    for thread in threads:
        thread.start()
    swap(run, args)
    time.sleep(args.gap)
    done.set()
    for thread in threads:
        thread.join()
    every = sorted(ms for _, _, ms in results)
    return {
        "client": "python", "requests": len(results),
        "failed": sum(1 for _, status, _ in results if status != 200),
        "p50_ms": every[len(every) // 2], "p99_ms": every[int(0.99 * len(every))],
    }  # fmt: skip


def scrape_reloads(port: int) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    lines = [line for line in text.splitlines() if line.startswith("fmnist_model_reloads_total")]
    return float(lines[0].split()[-1]) if lines else 0.0


if __name__ == "__main__":
    main()
