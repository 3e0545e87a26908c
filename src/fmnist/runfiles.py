"""A run folder's own files (JSON, history.csv), read and written atomically.

Kept free of TensorFlow so that `fmnist runs` and `fmnist report` start in a moment.

    >>> write_json(run_dir / "state.json", {"status": "running"})
    >>> read_history(run_dir / "history.csv")["val_accuracy"][-1]
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path


def write_json(path: Path, value) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(temporary, path)


def read_json_or_empty(path: Path) -> dict:
    """A run folder's JSON file, or {} when it is missing or unreadable (an unfinished run)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def write_history(path: Path, history: dict[str, list[float]]) -> None:
    """history.csv, one row per epoch, atomically."""
    keys = list(history)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["epoch", *keys])
        for epoch, row in enumerate(zip(*(history[k] for k in keys), strict=True), start=1):
            writer.writerow([epoch, *(f"{v:.6g}" for v in row)])
    os.replace(temporary, path)


def read_history(path: Path) -> dict[str, list[float]]:
    if not path.is_file():
        return {}
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [float(row[k]) for row in rows] for k in keys}
