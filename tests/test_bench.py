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
        "ray_serve_peer.py",
        "photos.py",
        "predict_scale.py",
        "saliency.py",
        "teach.py",
        "reload_under_load.py",
    ],
)
@pytest.mark.slow
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


@pytest.mark.slow
def test_photo_benchmark_scores_a_folder_laid_out_like_photos_dev(tmp_path):
    import io
    import json

    import numpy as np
    from PIL import Image

    from conftest import built_model
    from fmnist.artifacts import save_model
    from fmnist.data.dataset import CLASS_NAMES

    for folder, count in (("shirt", 2), ("shoes", 1), ("hat", 2)):
        (tmp_path / folder).mkdir()
        for k in range(count):
            pixels = np.full((90, 70, 3), 250, np.uint8)
            pixels[15:75, 10 + k : 60] = 30
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, "PNG")
            (tmp_path / folder / f"{k}.png").write_bytes(buffer.getvalue())
    model = save_model(built_model("mlp"), tmp_path / "m.keras", CLASS_NAMES)
    result = subprocess.run(
        [sys.executable, str(BENCH / "photos.py"), "--model", str(model)]
        + ["--photos", str(tmp_path), "--threshold", "0.99"],
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "overall (3 photos with a class)" in result.stdout
    saved = json.loads((BENCH / "results" / "photos.json").read_text())
    assert saved["folders"]["shirt"]["photos"] == 2 and "top1" not in saved["folders"]["hat"]
    # an untrained model is never 99% sure: every photo is flagged
    assert saved["overall"]["out_of_class_flagged"] == 1.0
