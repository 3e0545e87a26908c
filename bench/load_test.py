"""Load test of `fmnist serve`: requests per second, p50 and p99 latency at 1, 8 and 32
connections, each sending a photo (multipart PNG) to POST /v1/predict; batching on and off
in the same run; with `wrk` (a C client) where it is installed, and the Python client.

    python bench/load_test.py --model runs/<run>            # starts the services itself
    python bench/load_test.py --model runs/<run> --workers 2 --ray-serve --granian
    python bench/load_test.py --model runs/<run> --soak 10000
    python bench/load_test.py --url http://127.0.0.1:8000    # an already running one

`wrk` is Debian's package (`sudo apt-get install wrk`); without it the Python client alone
runs. Traffic goes to 127.0.0.1 only. Each Python level is bounded by a request count and
a time limit; each wrk level runs for --seconds. `--soak N` then sends N requests at 8
connections to the batching service and reports its resident memory before and after.
Prints tables and writes JSON (bench/results/load_test.json).
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from common import write_result

BOUNDARY = "fmnist-load-test-boundary"
# What the requests declare: a multipart form by default, the image type with --raw.
CONTENT_TYPE = {"value": f"multipart/form-data; boundary={BOUNDARY}"}


def photo_bytes() -> bytes:
    """A 240x300 product-style photo: a dark garment shape on a white background."""
    pixels = np.full((300, 240, 3), 255, np.uint8)
    pixels[40:260, 60:180] = (50, 60, 80)
    pixels[40:110, 20:220] = (50, 60, 80)  # sleeves
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def small_png() -> bytes:
    """A 28 x 28 grayscale PNG in Fashion-MNIST's own form: a light shirt on black."""
    pixels = np.zeros((28, 28), np.uint8)
    pixels[5:25, 9:19] = 170
    pixels[5:11, 3:25] = 150  # sleeves
    buffer = io.BytesIO()
    Image.fromarray(pixels, "L").save(buffer, "PNG")
    return buffer.getvalue()


def multipart(data: bytes, name: str = "photo.png", content_type: str = "image/png") -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="{name}"\r\nContent-Type: {content_type}\r\n\r\n'
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
    headers = {"Content-Type": CONTENT_TYPE["value"]}
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


def start_service(model: str, extra=()) -> tuple[subprocess.Popen, str]:
    """`fmnist serve` (or, with --ray in `extra`, fmnist's app on Ray Serve) on a free port:
    a port free when chosen can be taken before the service binds it (Ray starts listeners
    of its own on random ports), so a start that fails is tried on two more."""
    for attempt in range(3):
        port = free_port()
        command = [sys.executable, "-m", "fmnist", "serve", "--model", model, "--port", str(port)]
        try:
            return start_process([*command, *extra], f"http://127.0.0.1:{port}", "/readyz")
        except NotReady:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class NotReady(SystemExit):
    """A service that exited, or answered something other than HTTP, before it was ready."""


def start_peer(model: str, replicas: int) -> tuple[subprocess.Popen, str]:
    """The Ray Serve peer (bench/ray_serve_peer.py): @serve.batch, one replica per core."""
    port = free_port()
    script = Path(__file__).with_name("ray_serve_peer.py")
    command = [sys.executable, str(script), "--model", model, "--port", str(port)]
    return start_process([*command, "--replicas", str(replicas)], f"http://127.0.0.1:{port}", "/")


def start_process(command: list[str], url: str, ready: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopped whole, Ray's processes too
    )
    for _ in range(360):
        try:
            with urllib.request.urlopen(url + ready, timeout=2):
                return process, url
        except http.client.HTTPException:  # not HTTP: another program has the port
            stop(process)
            raise NotReady(f"{url}: something other than the service answers there") from None
        except OSError:
            if process.poll() is not None:
                raise NotReady(f"{command[1]} exited before it was ready") from None
            time.sleep(0.5)
    stop(process)
    raise SystemExit(f"{command[1]} was not ready within 180 s")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def run_wrk(url: str, body: bytes, connections: int, seconds: float) -> dict:
    """One level with wrk: its own requests/s and latency percentiles (--latency)."""
    with tempfile.TemporaryDirectory() as folder:
        payload = Path(folder) / "body.bin"
        payload.write_bytes(body)
        script = Path(folder) / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            f'wrk.headers["Content-Type"] = "{CONTENT_TYPE["value"]}"\n'
            f'local f = io.open("{payload}", "rb"); wrk.body = f:read("*all"); f:close()\n'
        )
        threads = min(connections, 2)
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
        output = subprocess.run(
            [*command, "-s", str(script), url + "/v1/predict"],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        ).stdout

    def percentile(name):
        match = re.search(rf"^\s*{name}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return round(value * {"us": 0.001, "ms": 1, "s": 1000}[unit], 1)

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "client": "wrk",
        "clients": connections,
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1).strip() if socket_errors else "",
        "seconds": seconds,
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": percentile(50),
        "p99_ms": percentile(99),
    }


def resident_mb(pid: int) -> float:
    """The service's resident memory: the process and its children (workers)."""
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid, *map(int, children.read_text().split())] if children.exists() else [pid]
    for p in pids:
        status = Path(f"/proc/{p}/status").read_text()
        total += int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
    return round(total / 1024, 1)


def measure(url: str, body: bytes, args) -> list[dict]:
    run_level(url, body, 1, 20, 10)  # warm-up, not reported
    rows = [
        {"client": "python", **run_level(url, body, n, args.requests, args.seconds)}
        for n in args.clients
    ]
    if shutil.which("wrk"):
        rows += [run_wrk(url, body, n, args.wrk_seconds) for n in args.clients]
    return rows


def soak(url: str, body: bytes, pid: int, requests: int) -> dict:
    """`requests` requests at 8 connections: errors, and resident memory along the way."""
    memory = [resident_mb(pid)]
    result = {}
    for _ in range(4):  # four quarters, memory after each
        result = run_level(url, body, 8, requests // 4, 3600)
        memory.append(resident_mb(pid))
        if result["errors"]:
            break
    return {"requests": requests, "errors": result["errors"], "resident_mb": memory}


def print_table(name: str, rows: list[dict]) -> None:
    print(f"\n{name}")
    print(
        f"{'client':>7} {'conns':>5} {'requests':>8} {'errors':>6} {'req/s':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7}"
    )
    for row in rows:
        print(
            f"{row['client']:>7} {row['clients']:>5} {row['requests']:>8} {row['errors']:>6} "
            f"{row['requests_per_s']:>8} {row['p50_ms']:>7} {row['p99_ms']:>7}"
        )


CONFIGURATIONS = {"batching off": ["--no-batching"], "batching on": []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="Model file or run folder: start services for it.")
    parser.add_argument("--url", help="Base URL of a running service on 127.0.0.1.")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=1000, help="Python client: per level.")
    parser.add_argument("--seconds", type=float, default=30, help="Python client: time limit.")
    parser.add_argument("--wrk-seconds", type=float, default=10, help="wrk: time per level.")
    parser.add_argument("--workers", type=int, default=1, help="Service processes.")
    parser.add_argument("--soak", type=int, default=0, help="Then N requests at 8 connections.")
    parser.add_argument(
        "--photo", type=Path, help="Send this JPEG or PNG instead of the plain-ground PNG."
    )
    parser.add_argument(
        "--small",
        action="store_true",
        help="Send a 28 x 28 grayscale PNG (Fashion-MNIST's own form) instead.",
    )
    parser.add_argument(
        "--ray-serve",
        action="store_true",
        help="Also fmnist's app on Ray Serve (--replicas = --workers) and the Ray Serve peer "
        "(bench/ray_serve_peer.py: @serve.batch, one replica per worker), in the same run.",
    )
    parser.add_argument(
        "--granian",
        action="store_true",
        help="Also the batching service on Granian (fmnist serve --server granian).",
    )
    parser.add_argument(
        "--only-batching",
        action="store_true",
        help="Leave out the service with batching off.",
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        help="Send the image itself as the body (Content-Type image/png or image/jpeg), "
        "not a multipart form (fmnist's service only).",
    )
    args = parser.parse_args()
    if not (args.model or args.url):
        parser.error("give --model (to start the services) or --url")
    if args.raw and args.ray_serve:
        parser.error("--raw measures fmnist's raw-body route; the Ray Serve peer takes multipart")
    kind, photo = "image/png", small_png() if args.small else photo_bytes()
    if args.photo:
        kind = "image/jpeg" if args.photo.suffix.lower() in (".jpg", ".jpeg") else "image/png"
        photo = args.photo.read_bytes()
    body = photo if args.raw else multipart(photo, args.photo.name if args.photo else "a.png", kind)
    if args.raw:
        CONTENT_TYPE["value"] = kind
    results = {}
    if args.url:
        results["as running"] = measure(args.url.rstrip("/"), body, args)
    else:
        workers = ["--workers", str(args.workers)] if args.workers > 1 else []
        starts = {
            name: (lambda extra=extra: start_service(args.model, [*extra, *workers]))
            for name, extra in CONFIGURATIONS.items()
            if not (args.only_batching and name == "batching off")
        }
        if args.granian:
            granian = ["--server", "granian", *workers]
            starts["batching on, Granian"] = lambda: start_service(args.model, granian)
        if args.ray_serve:
            replicas = ["--ray", "--replicas", str(args.workers)]
            starts["fmnist on Ray Serve"] = lambda: start_service(args.model, replicas)
            starts["Ray Serve peer"] = lambda: start_peer(args.model, args.workers)
        for name, start in starts.items():
            process, url = start()
            try:
                results[name] = measure(url, body, args)
                if args.soak and name == "batching on":
                    results["soak"] = soak(url, body, process.pid, args.soak)
            finally:
                stop(process)
    for name, rows in results.items():
        if name != "soak":
            print_table(name, rows)
    if "soak" in results:
        s = results["soak"]
        print(
            f"\nsoak: {s['requests']} requests at 8 connections, {s['errors']} errors, "
            f"resident memory {' -> '.join(f'{m:.0f}' for m in s['resident_mb'])} MB"
        )
    write_result(
        "load_test",
        {
            "payload": f"{args.photo or ('28x28 PNG' if args.small else '240x300 PNG photo')}, "
            + ("raw" if args.raw else "multipart"),
            "workers": args.workers,
            **results,
        },
    )


if __name__ == "__main__":
    main()
