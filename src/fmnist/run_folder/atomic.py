"""The one atomic write: every file of a run folder, a model, a figure or a cache entry is
written to a temporary file beside it and renamed into place once whole.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "metrics.json"
    >>> write_json(target, {"accuracy": 0.9})
    >>> read_json_or_empty(target)
    {'accuracy': 0.9}

A run killed at any moment leaves each file either as it was or as it was meant to be; the
temporary files a kill leaves behind (`.NAME.PID.tmp.SUFFIX`) are removed once their
process is gone (`remove_stale_temporaries`).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import psutil


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists and has not ended (a zombie has)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # someone else's process: it exists
        return True


def temporary_for(path: Path) -> Path:
    """Where `path` is written before its rename: `.NAME.PID.tmp.SUFFIX` beside it."""
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete what a killed write of `path` left (`.NAME.PID.tmp.SUFFIX`, a file or a
    SavedModel's folder) when process PID is gone: kill -9 leaves no chance to clean up."""
    stale = []
    for leftover in Path(path).parent.glob(f".{glob.escape(Path(path).stem)}.*.tmp*"):
        pid = leftover.name[len(Path(path).stem) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)
            stale.append(leftover)
    return stale


@contextmanager
def atomic_path(path: Path | str):
    """The one atomic write: yields a temporary path beside `path` (`.NAME.PID.tmp.SUFFIX`,
    keeping the suffix, which Keras and Matplotlib read) to write to, and renames it over
    `path` only once the block completes; on an error the temporary file goes and `path`
    stays as it was."""
    with atomic_paths(path) as (temporary,):
        yield temporary


@contextmanager
def atomic_paths(*paths: Path | str):
    """`atomic_path` for a set of files written together (one photo's figures): a temporary
    path for each, all renamed into place only once every one is written, so a failure
    leaves the old set whole, never old files mixed with new ones."""
    paths = [Path(p) for p in paths]
    temporaries = [temporary_for(p) for p in paths]
    for path in paths:
        remove_stale_temporaries(path)
    try:
        yield temporaries
        for temporary, path in zip(temporaries, paths, strict=True):
            os.replace(temporary, path)
    except OSError as error:  # name the file the user asked for, not its temporary
        named = {str(t): str(p) for t, p in zip(temporaries, paths, strict=True)}
        if error.filename in named:
            error.filename = named[error.filename]
        raise
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)


@contextmanager
def atomic_open(path: Path, newline: str | None = None):
    """A text stream for `path`, written through `atomic_path`."""
    with atomic_path(path) as temporary, open(temporary, "w", newline=newline) as stream:
        yield stream


def write_json(path: Path, value) -> None:
    """Write JSON atomically."""
    with atomic_open(path) as stream:
        stream.write(json.dumps(value, indent=2) + "\n")


def read_json_or_empty(path: Path) -> dict:
    """A JSON file, or {} when it is missing or unreadable (an unfinished run)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
