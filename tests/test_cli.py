"""The command line: exit codes, one-line errors, JSON output."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import NAMES, make_arrays, write_folder
from fmnist import __version__, idx
from fmnist.cli import main


def invoke(*args):
    result = CliRunner().invoke(main, list(map(str, args)))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    return result


def test_help_and_version():
    assert invoke("--help").exit_code == 0
    result = invoke("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_info_json(synthetic_dir, isolated_env):
    result = invoke("data", "info", "--json", "--data-dir", synthetic_dir)
    assert result.exit_code == 0
    summary = json.loads(result.output)
    assert summary["splits"]["test"]["images_shape"] == [20, 28, 28]


def corrupt_cases():
    def truncated(folder):
        path = folder / NAMES["train_images"]
        data = idx.encode(make_arrays()["train_images"])
        path.write_bytes(data[:-3000])
        return "train-images-idx3-ubyte.gz: truncated: header says 60 images, file holds 56"

    def wrong_magic(folder):
        idx.write_idx(folder / NAMES["test_images"], make_arrays()["test_labels"])
        return "t10k-images-idx3-ubyte.gz: wrong magic number 2049 (a labels file)"

    def count_mismatch(folder):
        idx.write_idx(folder / NAMES["test_labels"], make_arrays()["test_labels"][:7])
        return "holds 20 images but t10k-labels-idx1-ubyte.gz holds 7 labels"

    def label_range(folder):
        labels = make_arrays()["train_labels"]
        labels[5] = 10
        idx.write_idx(folder / NAMES["train_labels"], labels)
        return "train-labels-idx1-ubyte.gz: label 10 at index 5 is outside 0-9"

    def mnist(folder):
        idx.write_idx(folder / NAMES["test_images"], np.zeros((10000, 28, 28), np.uint8))
        labels = np.repeat(
            np.arange(10, dtype=np.uint8), (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
        )
        idx.write_idx(folder / NAMES["test_labels"], labels)
        return "t10k-labels-idx1-ubyte.gz: this is MNIST (handwritten digits), not Fashion-MNIST"

    return [truncated, wrong_magic, count_mismatch, label_range, mnist]


@pytest.mark.parametrize("damage", corrupt_cases(), ids=lambda f: f.__name__)
def test_each_corrupt_case_is_one_line_and_exit_1(damage, synthetic_dir, isolated_env):
    expected = damage(synthetic_dir)
    result = invoke("data", "info", "--data-dir", synthetic_dir)
    assert result.exit_code == 1
    assert expected in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_installed_command_prints_no_traceback(tmp_path, isolated_env):
    folder = write_folder(tmp_path / "d", make_arrays())
    (folder / NAMES["train_labels"]).write_bytes(b"\0\0\x08\x01")
    env = {**os.environ, "FMNIST_DATA_DIR": str(folder)}
    result = subprocess.run(
        [sys.executable, "-m", "fmnist", "data", "info"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr == "Error: train-labels-idx1-ubyte.gz: truncated header (4 of 8 bytes)\n"


def test_verify_reports_each_file(synthetic_dir, isolated_env):
    result = invoke("data", "verify", "--data-dir", synthetic_dir)
    assert result.exit_code == 1  # synthetic files are not the published ones
    assert result.output.count("MD5 mismatch") == 4


def test_download_command_uses_mirrors(tmp_path, trust_synthetic_md5, serve_folder, monkeypatch):
    monkeypatch.setenv("FMNIST_MIRRORS", serve_folder(trust_synthetic_md5))
    result = invoke("data", "download", "--quiet", "--data-dir", tmp_path / "got")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "got").iterdir()) == sorted(NAMES.values())


def test_real_data_verify_and_info(real_data_dir):
    result = invoke("data", "verify", "--data-dir", real_data_dir)
    assert result.exit_code == 0 and result.output.count(" OK") == 4
    info = json.loads(invoke("data", "info", "--json", "--data-dir", real_data_dir).output)
    assert info["splits"]["train"]["images_shape"] == [60000, 28, 28]
    assert set(info["splits"]["test"]["class_counts"].values()) == {1000}
