"""A newcomer's first hour: a photo run compared with a plain one, the photo stage's progress
in a terminal and out of one."""

import os
import pty
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from conftest import make_arrays, photo_folder, write_folder
from fmnist.cli import main


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A run that learned photos and one that did not, on synthetic data."""
    root = tmp_path_factory.mktemp("first-hour")
    data = write_folder(root / "data", make_arrays(300, 60))
    photos = photo_folder(root / "photos", {"t-shirt": 6, "hat": 6})
    flags = ["--model", "mlp", "--epochs", "1", "--data-dir", str(data)]
    outputs = []
    for extra in (["--photos", str(photos)], []):
        result = CliRunner().invoke(
            main, ["train", *flags, *extra, "--runs-dir", str(root / "runs")]
        )
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
        time.sleep(1.1)  # run folders are named by the second
    return sorted((root / "runs").iterdir()), outputs, root, data, photos


@pytest.mark.slow
def test_a_photo_run_compares_with_a_plain_one(two_runs):
    (photo_run, plain_run), _, root, _, _ = two_runs
    result = CliRunner().invoke(main, ["runs", "compare", str(photo_run), str(plain_run)])
    assert result.exit_code == 0, result.output
    assert (
        "How does it do on people's photos?" in result.output and "Traceback" not in result.output
    )


@pytest.mark.slow
def test_the_photo_stage_shows_its_passes_outside_a_terminal(two_runs):
    _, (with_photos, _), _, _, _ = two_runs
    passes = [line for line in with_photos.splitlines() if line.startswith("[photos] pass ")]
    assert len(passes) >= 5 and passes[-1].startswith("[photos] pass 24/24")
    assert all("s left" in line for line in passes) and "\r" not in with_photos


@pytest.mark.slow
def test_the_photo_stage_shows_its_passes_in_a_terminal(two_runs, tmp_path):
    _, _, _, data, photos = two_runs
    leader, follower = pty.openpty()
    command = [sys.executable, "-m", "fmnist", "train", "--model", "mlp", "--epochs", "1",
               "--data-dir", str(data), "--photos", str(photos)]  # fmt: skip
    command += ["--runs-dir", str(tmp_path)]
    process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})  # fmt: skip
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the process closed the terminal
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=120)
    os.close(leader)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-2000:]
    assert "[photos] pass 24/24" in text and "[photos] done in" in text
    assert "Traceback" not in text
