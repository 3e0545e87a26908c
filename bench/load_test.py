"""Load test of `fmnist serve`: latency (p50, p99) and requests per second at 1, 8 and 32
concurrent clients, each sending a photo (multipart PNG) to POST /v1/predict.

    python bench/load_test.py --model runs/<run>            # starts its own service
    python bench/load_test.py --url http://127.0.0.1:8000    # an already running one

Traffic goes to 127.0.0.1 only. Each level is bounded by a request count and a time
limit, whichever comes first. Prints a table and writes JSON (bench/results/load_test.json).
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import numpy as np
from PIL import Image

from common import write_result

BOUNDARY = "fmnist-load-test-boundary"


def photo_bytes() -> bytes:
    """A 240x300 product-style photo: a dark garment shape on a white background."""
    pixels = np.full((300, 240, 3), 255, np.uint8)
    pixels[40:260, 60:180] = (50, 60, 80)
    pixels[40:110, 20:220] = (50, 60, 80)  # sleeves
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def multipart(data: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="photo.png"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        + data
        + (f"\r\n--{BOUNDARY}--\r\n".encode())
    )


def client(url, body, deadline, budget, latencies, errors, lock) -> None:
    """One client: sends requests back to back on a kept-alive connection."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to load-test {parsed.hostname}: loopback only")
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    while time.monotonic() < deadline:
        with lock:
            if budget[0] <= 0:
                break
            budget[0] -= 1
        started = time.perf_counter()
        try:
            connection.request("POST", "/v1/predict", body, headers)
            reply = connection.getresponse()
            reply.read()
            ok = reply.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
            connection.close()
        with lock:
            (latencies if ok else errors).append(time.perf_counter() - started)
    connection.close()


def run_level(url: str, body: bytes, clients: int, requests: int, seconds: float) -> dict:
    latencies, errors, lock, budget = [], [], threading.Lock(), [requests]
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client, args=(url, body, deadline, budget, latencies, errors, lock))
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 1) if len(ms) else None,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(model: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "fmnist", "serve", "--model", model, "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(180):
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2):
                return process, url
        except OSError:
            if process.poll() is not None:
                raise SystemExit("fmnist serve exited before it was ready") from None
            time.sleep(0.5)
    process.kill()
    raise SystemExit("fmnist serve was not ready within 90 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="Model file or run folder: start a service for it.")
    parser.add_argument("--url", help="Base URL of a running service on 127.0.0.1.")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=400, help="Requests per level, at most.")
    parser.add_argument("--seconds", type=float, default=30, help="Time per level, at most.")
    args = parser.parse_args()
    if not (args.model or args.url):
        parser.error("give --model (to start a service) or --url")
    process, url = start_service(args.model) if args.model else (None, args.url.rstrip("/"))
    try:
        body = multipart(photo_bytes())
        run_level(url, body, 1, 20, 10)  # warm-up, not reported
        levels = [run_level(url, body, n, args.requests, args.seconds) for n in args.clients]
    finally:
        if process:
            process.terminate()
            process.wait(timeout=30)
    print(f"{'clients':>7} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}")
    for row in levels:
        print(
            f"{row['clients']:>7} {row['requests']:>8} {row['errors']:>6} "
            f"{row['requests_per_s']:>7} {row['p50_ms']:>7} {row['p99_ms']:>7}"
        )
    write_result(
        "load_test",
        {"url": url, "payload": "240x300 PNG photo, multipart", "levels": levels},
    )


if __name__ == "__main__":
    main()
