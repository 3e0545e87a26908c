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


def record_failure(run_dir: Path, stage: str, error: BaseException) -> dict:
    """Mark a run folder failed (or interrupted, for Ctrl-C) in its state.json, with the
    stage and the one-line reason, so `fmnist runs` never lists it as finished."""
    from fmnist.errors import describe_os_error

    state = read_json_or_empty(Path(run_dir) / "state.json")
    if isinstance(error, KeyboardInterrupt) or getattr(error, "exit_code", None) == 130:
        state.update(status="interrupted", stage=stage)
    else:
        reason = describe_os_error(error) if isinstance(error, OSError) else str(error)
        state.update(status="failed", stage=stage, error=reason or type(error).__name__)
    try:
        write_json(Path(run_dir) / "state.json", state)
    except OSError:
        pass  # the folder itself cannot be written: the error being raised says why
    return state


def remove_leftovers(run_dir: Path) -> list[Path]:
    """Delete the temporary files a killed save leaves behind (`.NAME.tmp`, `.NAME.PID.tmp.keras`:
    every atomic write here writes one, then renames it); returns what was removed."""
    leftovers = [p for p in Path(run_dir).rglob(".*.tmp*") if p.is_file()]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers
