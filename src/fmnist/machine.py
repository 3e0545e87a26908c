"""Facts about the machine a run or a benchmark ran on: CPU, its relevant flags, versions.

    >>> machine = describe_machine()
    >>> {"cpu", "cores", "amx_bf16", "avx512_bf16", "platform"} <= set(machine)
    True

TensorFlow-free (versions of installed packages are read from their metadata), so the
benchmarks, the run summary and `fmnist runs` can state them without importing it.
"""

from __future__ import annotations

import os
import platform
from functools import cache
from importlib import metadata
from pathlib import Path

# The CPU flags that decide which precision trains fastest: AMX multiplies bfloat16
# matrices in hardware; AVX512-BF16 only converts and dots, which oneDNN uses too.
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


@cache
def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_name() -> str:
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux; empty elsewhere)."""
    for line in _cpuinfo().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def amx_available() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (Intel AMX, Linux)."""
    return "amx_bf16" in cpu_flags()


def package_versions() -> dict:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    tensorflow = version("tensorflow-cpu") or version("tensorflow")
    return {
        "fmnist": version("fmnist"),
        "python": platform.python_version(),
        "keras": version("keras"),
        "tensorflow": tensorflow,
        "numpy": version("numpy"),
        "platform": platform.platform(),
    }


def describe_machine() -> dict:
    """CPU name, cores and the flags in RELEVANT_FLAGS: what a benchmark figure needs beside it."""
    flags = cpu_flags()
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        **{flag: flag in flags for flag in RELEVANT_FLAGS},
        "platform": platform.platform(),
    }


def flags_line(machine: dict | None = None) -> str:
    """One line for a benchmark's output: 'AMD EPYC, 2 cores, flags: avx512f avx512_bf16'."""
    machine = machine or describe_machine()
    present = [flag for flag in RELEVANT_FLAGS if machine.get(flag)]
    missing = [flag for flag in ("amx_bf16", "avx512_bf16") if not machine.get(flag)]
    line = f"{machine['cpu']}, {machine['cores']} cores, flags: {' '.join(present) or 'none'}"
    return line + (f" (no {', no '.join(missing)})" if missing else "")
