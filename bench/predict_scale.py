"""Predicting many photos: time and peak memory of `fmnist predict` at 300, 3,000 and 30,000
files, so the curve shows whether the cost grows with the work.

    python bench/predict_scale.py --model runs/<run>                 # 300, 3000, 30000
    python bench/predict_scale.py --model runs/<run> --counts 300 3000

The files are hard links (copies where links are refused) to ../shared/photos-train's
photos, taken in turn, in a temporary folder; `fmnist predict --model RUN --jsonl FOLDER`
answers them in a child process with its output thrown away. Memory is sampled every
0.1 s from /proc: the command's own process (its peak, VmHWM) and the whole tree with the
photo-preparing workers (the largest sum seen). Writes bench/results/predict_scale.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write_result

DEFAULT_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "photos-train"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc's children lists."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return tree


def make_folder(photos: list[Path], count: int, folder: Path) -> None:
    for number in range(count):
        source = photos[number % len(photos)]
        target = folder / f"{number:06d}{source.suffix.lower()}"
        try:
            os.link(source, target)
        except OSError:
            target.write_bytes(source.read_bytes())


def measure(model: str, folder: Path, count: int) -> dict:
    command = [sys.executable, "-m", "fmnist", "predict", "--model", model, "--jsonl", str(folder)]
    started = time.perf_counter()
    errors = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would stall the child
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=ENV)
    lines, tree_peak_kb, main_peak_kb = 0, 0, 0
    os.set_blocking(child.stdout.fileno(), False)
    while child.poll() is None:
        tree_kb = sum(status_kb(p, "VmRSS") for p in process_tree(child.pid))
        tree_peak_kb = max(tree_peak_kb, tree_kb)
        main_peak_kb = max(main_peak_kb, status_kb(child.pid, "VmHWM"))
        chunk = child.stdout.read()
        lines += chunk.count(b"\n") if chunk else 0
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    lines += (child.stdout.read() or b"").count(b"\n")
    if child.returncode != 0 or lines != count:
        errors.seek(0)
        error = errors.read().decode(errors="replace")[-2000:]
        raise SystemExit(f"{count} files: exit {child.returncode}, {lines} answers\n{error}")
    return {
        "files": count,
        "seconds": round(seconds, 1),
        "files_per_s": round(count / seconds, 1),
        "main_process_peak_mb": round(main_peak_kb / 1024, 1),
        "process_tree_peak_mb": round(tree_peak_kb / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="A run folder or model file.")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--counts", type=int, nargs="+", default=[300, 3000, 30000])
    args = parser.parse_args()
    photos = sorted(p for p in args.photos.rglob("*.jpg") if p.is_file())
    if not photos:
        raise SystemExit(f"{args.photos}: no .jpg photos")
    rows = []
    for count in args.counts:
        with tempfile.TemporaryDirectory() as scratch:
            make_folder(photos, count, Path(scratch))
            row = measure(args.model, Path(scratch), count)
        rows.append(row)
        print(
            f"{row['files']:>7,} files  {row['seconds']:>7.1f} s  {row['files_per_s']:>6.1f}/s  "
            f"peak {row['main_process_peak_mb']:>7.1f} MB (command), "
            f"{row['process_tree_peak_mb']:>7.1f} MB (with its workers)",
            flush=True,
        )
    write_result("predict_scale", {"model": args.model, "cpus": os.cpu_count(), "rows": rows})


if __name__ == "__main__":
    main()
