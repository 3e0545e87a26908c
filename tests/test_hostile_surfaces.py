"""The newer surfaces against careless and hostile use: an export never deletes what it did
not write, a cache entry that is not a prepared photo is prepared again, and what cannot be
read is said to be so and counted as a failure."""

import builtins
import io
import os
import time
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import built_model, photo_folder
from fmnist.artifacts import ArtifactError, export_model, save_model
from fmnist.cli import main
from fmnist.data.dataset import CLASS_NAMES
from fmnist.photos.prepare import PhotoError, open_photo
from fmnist.photos.prepared import cache_key, prepare_photos


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    return save_model(built_model("mlp"), folder / "m.keras", CLASS_NAMES)


def a_folder_of_files(folder):
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "photo.jpg").write_bytes(b"also mine")
    return folder


def test_an_onnx_export_into_a_folder_of_files_writes_inside_it(model_file, tmp_path):
    pytest.importorskip("tf2onnx", reason="ONNX export is the [onnx] extra")
    folder = a_folder_of_files(tmp_path / "deploy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = export_model(model_file, "onnx", folder)
    assert not [w for w in caught if issubclass(w.category, FutureWarning)]  # off the terminal
    assert written == folder / "m.onnx" and written.is_file()
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "photo.jpg").read_bytes() == b"also mine"


def test_a_saved_model_export_never_replaces_a_folder_of_other_files(model_file, tmp_path):
    folder = a_folder_of_files(tmp_path / "deploy")
    with pytest.raises(ArtifactError, match="not a SavedModel; an export never replaces"):
        export_model(model_file, "saved_model", folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "photo.jpg"]
    result = CliRunner().invoke(
        main, ["export", str(model_file), "--format", "saved_model", "--out", str(folder)]
    )
    assert result.exit_code == 1 and "never replaces" in result.output
    assert "Traceback" not in result.output and (folder / "notes.txt").is_file()


@pytest.mark.parametrize(
    "entry",
    [
        np.full((28, 28), np.nan, np.float32),  # NaN
        np.full((28, 28), 255, np.uint8),  # all white
        np.zeros((14, 14), np.uint8),  # another shape
    ],
    ids=["nan", "all-white", "wrong-shape"],
)
def test_a_cache_entry_that_is_not_a_prepared_photo_is_prepared_again(tmp_path, entry):
    photos = photo_folder(tmp_path / "photos", {"shirt": 1})
    (photo,) = (photos / "shirt").iterdir()
    cache = tmp_path / "cache"
    (good,) = prepare_photos([photo], cache, workers=1)
    stored = cache / f"{cache_key(photo)}.npy"
    np.save(stored, entry)
    (again,) = prepare_photos([photo], cache, workers=1)
    np.testing.assert_array_equal(again, good)
    np.testing.assert_array_equal(np.load(stored), good)  # and the entry replaced


def test_an_unreadable_file_is_permission_denied_not_corrupt(tmp_path, monkeypatch):
    path = tmp_path / "locked.png"
    Image.new("RGB", (40, 40), (200, 10, 10)).save(path)
    real_open = builtins.open

    def refusing(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing)
    with pytest.raises(PhotoError, match=r"locked.png: permission denied$"):
        open_photo(path, str(path))


def test_predict_names_an_unreadable_folder_and_counts_it_as_a_failure(
    tmp_path, model_file, monkeypatch
):
    photos = photo_folder(tmp_path / "photos", {"a": 2, "b": 2})
    locked = photos / "b"
    real_scandir = os.scandir

    def scandir(path="."):
        if not isinstance(path, int) and os.fspath(path) == os.fspath(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = CliRunner().invoke(main, ["predict", "--model", str(model_file), str(photos)])
    assert result.exit_code == 1, result.output
    assert f"{locked}: a folder that cannot be read (permission denied)" in result.output
    assert "1 of 3 images could not be read" in result.output


def test_an_image_over_pillows_own_limit_is_fmnists_one_line_and_no_warning(monkeypatch):
    from fmnist.photos.prepare import PhotoTooLarge

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # as 12000 x 12000 is to Pillow's
    buffer = io.BytesIO()
    Image.new("L", (40, 40)).save(buffer, "PNG")
    with warnings.catch_warnings(record=True) as caught, pytest.raises(PhotoTooLarge):
        warnings.simplefilter("always")
        open_photo(io.BytesIO(buffer.getvalue()), "huge.png", max_pixels=1000)
    assert not caught


def test_file_names_are_answered_without_path_parts_or_control_characters(model_file):
    from fastapi.testclient import TestClient

    from fmnist.predict import Predictor
    from fmnist.serving.app import create_app

    buffer = io.BytesIO()
    Image.new("RGB", (40, 60), (250, 250, 250)).save(buffer, "PNG")
    with TestClient(create_app(Predictor.load(model_file))) as client:
        sent = client.post("/v1/predict", files=[
            ("files", ("../../etc/x<b>.png", buffer.getvalue(), "image/png"))])  # fmt: skip
        headers = {"content-type": "image/png", "x-filename": "a/..\\b\tc.png"}
        raw = client.post("/v1/predict", content=buffer.getvalue(), headers=headers)
    assert sent.json()["predictions"][0]["source"] == "x<b>.png"
    assert raw.json()["predictions"][0]["source"] == "bc.png"  # no path, no tab


@pytest.mark.parametrize(
    "flags", [[], ["--workers", "2"], ["--server", "granian"], ["--ray"]],
    ids=["one-worker", "two-workers", "granian", "ray"],
)  # fmt: skip
def test_an_untrusted_pickle_is_refused_once_before_any_worker_starts(model_file, tmp_path, flags):
    if flags == ["--ray"]:
        pytest.importorskip("ray.serve", reason="Ray Serve is the [serve-ray] extra")
    pickle_path = tmp_path / "m.pkl"
    result = CliRunner().invoke(main, ["convert", str(model_file), str(pickle_path)])
    assert result.exit_code == 0, result.output
    served = CliRunner().invoke(main, ["serve", "--model", str(pickle_path), *flags])
    assert served.exit_code == 1, served.output
    assert "refusing to load a pickle" in served.output and "Traceback" not in served.output


def test_what_a_photo_set_leaves_out_is_counted_and_said(tmp_path):
    from fmnist.data.photo_sets import find_photo_set

    root = photo_folder(tmp_path / "photos", {"shirt": 2, "sneaker": 1})
    (root / "shirt" / "animated.gif").write_bytes(b"GIF89a")
    os.symlink("loop.jpg", root / "sneaker" / "loop.jpg")  # a link to itself
    (root / "classes.toml").write_text(
        '[folders]\nshirt = "Shirt"\nsneaker = "Sneaker"\nboots = "Ankle boot"\n'
    )
    photos = find_photo_set(root)
    assert len(photos.files) == 3
    assert photos.skipped == ["shirt/animated.gif", "sneaker/loop.jpg"]
    assert photos.missing == ["boots"]
    line = photos.describe_skipped()
    assert line.startswith("2 files skipped, not PNG, JPEG or WebP photos (shirt/animated.gif")
    assert "no folder for boots" in line and "\n" not in line


@pytest.mark.parametrize(
    "space, expected",
    [
        ('batch_size = { grid = [256, "big"] }', "space.batch_size = 'big': batch_size: expected"),
        ("learning_rate = { loguniform = [1e-4, 50.0] }", "space.learning_rate = 50.0:"),
        ("", "space: empty, so every trial would train the same config"),
    ],
    ids=["wrong-type-in-grid", "range-end-out-of-bounds", "empty-space"],
)
def test_a_sweep_is_checked_whole_before_ray_starts(tmp_path, space, expected):
    path = tmp_path / "sweep.toml"
    path.write_text(f'model = "mlp"\ntrials = 2\nepochs = 1\n[space]\n{space}\n')
    result = CliRunner().invoke(main, ["sweep", "--config", str(path)])
    assert result.exit_code == 1 and expected in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "sweeps").exists()


@pytest.mark.parametrize("uri", ["foo://x", "http://127.0.0.1:9", "sqlite:////proc/none/x.db"])
def test_a_tracking_store_that_cannot_be_used_is_one_line_before_training(
    tmp_path, monkeypatch, uri
):
    pytest.importorskip("mlflow", reason="--mlflow is the [mlflow] extra")
    from conftest import make_arrays, write_folder

    data = write_folder(tmp_path / "data", make_arrays(60, 20))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    started = time.monotonic()
    flags = ["--model", "mlp", "--epochs", "1", "--mlflow", "--data-dir", str(data)]
    result = CliRunner().invoke(main, ["train", *flags, "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 1, result.output
    assert f"--mlflow: the tracking store {uri} cannot be used (" in result.output
    assert "Traceback" not in result.output and "epoch" not in result.output
    assert not (tmp_path / "runs").exists() and time.monotonic() - started < 30


def test_a_write_that_fails_names_the_file_asked_for_not_its_temporary(
    model_file, tmp_path, monkeypatch
):
    import fmnist.artifacts

    def refuse(model, path, info):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(fmnist.artifacts, "_write", refuse)
    target = tmp_path / "locked" / "m.h5"
    result = CliRunner().invoke(main, ["convert", str(model_file), str(target)])
    assert result.exit_code == 1, result.output
    assert f"{target}: " in result.output and ".tmp" not in result.output
    assert not list((tmp_path / "locked").iterdir())  # nothing left behind


@pytest.mark.parametrize("damage", ["cache-is-a-file", "entry-is-a-folder"])
def test_a_cache_that_cannot_be_written_is_not_used(tmp_path, capsys, damage):
    photos = photo_folder(tmp_path / "photos", {"shirt": 2})
    files = sorted((photos / "shirt").iterdir())
    expected = prepare_photos(files, tmp_path / "good", workers=1)
    cache = tmp_path / "cache"
    if damage == "cache-is-a-file":
        cache.write_text("not a folder")
    else:
        (cache / f"{cache_key(files[0])}.npy").mkdir(parents=True)
    np.testing.assert_array_equal(prepare_photos(files, cache, workers=1), expected)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"[photos] the cache {cache} cannot be written (") and ".tmp" not in line


def test_a_sweep_builds_each_model_it_will_try_before_ray_starts(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        'model = "mlp"\ntrials = 1\nepochs = 1\n[space]\nmodel_args.units = { grid = [16, 0] }\n'
    )
    result = CliRunner().invoke(main, ["sweep", "--config", str(path)])
    assert result.exit_code == 1 and "space.model_args.units = 0: " in result.output
    assert "positive integer" in result.output and "Traceback" not in result.output
