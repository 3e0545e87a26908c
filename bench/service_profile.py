"""Where a request's CPU goes in `fmnist serve`, one step of the fast path at a time: the
service's CPU milliseconds per request (all its processes, from /proc) and py-spy's share
of the Python-level samples by stage, under wrk at 8 connections.

    python bench/service_profile.py --model runs/<run>
    python bench/service_profile.py --model runs/<run> --seconds 20 --photo phone.jpg

Steps, each adding one change to the one before: TensorFlow's model call and a multipart
upload on uvicorn (the service before the fast path); the model call through ONNX Runtime
(`--engine auto`); the image as the request body (no multipart); Granian instead of
uvicorn (`--server granian`; its HTTP work is Rust, outside py-spy's Python samples but
inside the CPU figure). One worker, batching on. Needs py-spy and wrk; writes
bench/results/service_profile.json.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from common import write_result
from load_test import (
    BOUNDARY,
    CONTENT_TYPE,
    multipart,
    photo_bytes,
    run_wrk,
    small_png,
    start_service,
    stop,
)

PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
# name: (fmnist serve flags, raw body)
STEPS = {
    "TensorFlow, multipart, uvicorn": (["--engine", "tensorflow"], False),
    "+ ONNX Runtime": ([], False),
    "+ raw body": ([], True),
    "+ Granian": (["--server", "granian"], True),
}
# Stages by the innermost frame that names one (file paths as py-spy reports them)
STAGES = (
    ("model call", ("onnxruntime", "tensorflow", "keras")),
    ("image decode", ("PIL/",)),
    ("photo steps", ("fmnist/photos/", "cv2")),
    ("multipart parsing", ("multipart/", "formparsers")),
    ("fmnist service", ("fmnist/serving/", "fmnist/predict/")),
    ("FastAPI, Starlette, pydantic", ("fastapi/", "starlette/", "pydantic")),
    ("HTTP server", ("uvicorn/", "httptools", "h11/", "granian")),
    ("event loop", ("asyncio/", "uvloop", "selectors")),
    ("threads waiting for work", ("threading.py", "concurrent/futures/thread.py")),
)


def stage_of(stack: str) -> str:
    for frame in reversed(stack.split(";")):
        for stage, marks in STAGES:
            if any(mark in frame for mark in marks):
                return stage
    return "other"


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and all its descendants, in seconds."""
    tick, total, todo = os.sysconf("SC_CLK_TCK"), 0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo += [int(c) for c in children]
        except OSError:
            continue
    return total / tick


def profile_step(model: str, flags: list[str], raw: bool, photo, seconds: float) -> dict:
    kind, image = photo
    CONTENT_TYPE["value"] = kind if raw else f"multipart/form-data; boundary={BOUNDARY}"
    body = image if raw else multipart(image, "photo", kind)
    process, url = start_service(model, flags)
    try:
        run_wrk(url, body, 8, 3)  # warm-up
        with tempfile.TemporaryDirectory() as folder:
            samples = Path(folder) / "samples.txt"
            spy = subprocess.Popen(
                [PY_SPY, "record", "--pid", str(process.pid), "--subprocesses", "--rate", "250",
                 "--format", "raw", "--nonblocking", "--duration", str(int(seconds)),
                 "--output", str(samples)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            cpu_before = tree_cpu_seconds(process.pid)
            result = {}
            load = threading.Thread(target=lambda: result.update(run_wrk(url, body, 8, seconds)))
            load.start()
            load.join()
            cpu = tree_cpu_seconds(process.pid) - cpu_before
            spy.wait(timeout=60)
            stages, others = collections.Counter(), collections.Counter()
            for line in samples.read_text().splitlines() if samples.exists() else ():
                stack, _, count = line.rpartition(" ")
                stages[stage_of(stack)] += int(count)
                if stage_of(stack) == "other":  # named, so that "other" hides nothing big
                    others[stack.split(";")[-1]] += int(count)
    finally:
        stop(process)
    sampled = sum(stages.values()) or 1
    return {
        "requests_per_s": result["requests_per_s"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "cpu_ms_per_request": round(1000 * cpu / max(result["requests"], 1), 3),
        "python_samples": sampled,
        "python_share": {k: round(v / sampled, 3) for k, v in stages.most_common()},
        "other_frames": {k: round(v / sampled, 3) for k, v in others.most_common(5)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Model file or run folder.")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--photo", type=Path, help="A JPEG or PNG instead of the plain-ground PNG.")
    parser.add_argument("--small", action="store_true", help="A 28 x 28 grayscale PNG instead.")
    args = parser.parse_args()
    for tool in (PY_SPY, "wrk"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (pip install py-spy; apt-get install wrk)")
    photo = ("image/png", small_png() if args.small else photo_bytes())
    if args.photo:
        jpeg = args.photo.suffix.lower() in (".jpg", ".jpeg")
        photo = ("image/jpeg" if jpeg else "image/png", args.photo.read_bytes())
    results = {}
    for name, (flags, raw) in STEPS.items():
        results[name] = row = profile_step(args.model, flags, raw, photo, args.seconds)
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in row["python_share"].items())
        print(
            f"{name:<32} {row['requests_per_s']:>7.0f} req/s  p50 {row['p50_ms']:>5} ms  "
            f"{row['cpu_ms_per_request']:>6.2f} CPU ms/request  Python samples: {shares}",
            flush=True,
        )
    write_result(
        "service_profile",
        {
            "payload": str(args.photo or ("28x28 PNG" if args.small else "240x300 PNG photo")),
            "seconds": args.seconds,
            **results,
        },
    )


if __name__ == "__main__":
    main()
