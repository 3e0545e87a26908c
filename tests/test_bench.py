"""The benchmark scripts start and explain themselves (their figures are in docs/benchmarks.md)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize(
    "script",
    [
        "inference.py",
        "memory.py",
        "time_to_accuracy.py",
        "training_throughput.py",
        "training_profile.py",
        "accuracy_table.py",
        "load_test.py",
    ],
)
def test_benchmark_prints_its_help(script):
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"],
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage:")


def test_load_test_refuses_addresses_off_this_machine():
    sys.path.insert(0, str(BENCH))
    from load_test import client

    with pytest.raises(SystemExit, match="loopback only"):
        client("http://10.0.0.1:80", b"", 0, [1], [], [], None)
