"""Models as files: round trips, trust, damaged files, atomic saves, exports."""

import numpy as np
import pytest

from conftest import built_model
from fmnist import artifacts
from fmnist.artifacts import ArtifactError, load_model, load_model_with_metadata, save_model
from fmnist.data.dataset import CLASS_NAMES


@pytest.fixture(scope="module")
def model():
    return built_model("cnn_bn")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1)).astype(np.float32)


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".pkl"])
def test_round_trip_gives_identical_predictions(tmp_path, model, images, suffix):
    path = save_model(model, tmp_path / f"m{suffix}", CLASS_NAMES, {"note": "x"})
    loaded, info = load_model_with_metadata(path, trust=True)
    np.testing.assert_array_equal(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0)
    )
    assert info["class_names"] == list(CLASS_NAMES) and info["note"] == "x"
    assert [p.name for p in tmp_path.iterdir()] == [f"m{suffix}"]  # no temporary left


def test_pickle_needs_trust(tmp_path, model):
    path = save_model(model, tmp_path / "m.pkl", CLASS_NAMES)
    with pytest.raises(ArtifactError, match="refusing to load a pickle: unpickling runs"):
        load_model(path)
    assert load_model(path, trust=True) is not None


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".pkl"])
def test_truncated_model_file_is_one_line(tmp_path, model, suffix):
    path = save_model(model, tmp_path / f"m{suffix}", CLASS_NAMES)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError) as caught:
        load_model(path, trust=True)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message


def test_interrupted_save_leaves_the_old_file_intact(tmp_path, model, monkeypatch):
    path = save_model(model, tmp_path / "m.keras", CLASS_NAMES)
    before = path.read_bytes()

    def crash(self, filepath, *args, **kwargs):
        open(filepath, "wb").write(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(type(model), "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, path, CLASS_NAMES)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


def test_unknown_format(tmp_path, model):
    with pytest.raises(ArtifactError, match="unknown model format '.pt'"):
        save_model(model, tmp_path / "m.pt")


def test_convert_between_formats(tmp_path, model, images):
    source = save_model(model, tmp_path / "m.keras", CLASS_NAMES)
    h5 = artifacts.convert(source, tmp_path / "m.h5")
    pkl = artifacts.convert(h5, tmp_path / "m.pkl")
    back = artifacts.convert(pkl, tmp_path / "back.keras", trust=True)
    np.testing.assert_array_equal(
        load_model(back).predict(images, verbose=0), model.predict(images, verbose=0)
    )
    assert artifacts.read_metadata(back)["class_names"] == list(CLASS_NAMES)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_verify_round_trip_agrees_on_every_label(tmp_path, model, images, suffix):
    path = save_model(model, tmp_path / f"m{suffix}", CLASS_NAMES)
    result = artifacts.verify_models(path, None, images)
    assert result["label_agreement"] == 1.0 and result["ok"]
    assert result["max_probability_difference"] == 0.0


@pytest.mark.parametrize(
    "fmt, name", [("onnx", "m.onnx"), ("litert", "m.tflite"), ("saved_model", "m_saved")]
)
def test_exports_agree_with_their_runtimes(tmp_path, model, images, fmt, name):
    source = save_model(model, tmp_path / "m.keras", CLASS_NAMES)
    exported = artifacts.export_model(source, fmt, tmp_path / name)
    result = artifacts.verify_models(source, exported, images)
    assert result["required_agreement"] == 0.999 and result["ok"]
    assert result["max_probability_difference"] < 1e-4
    # Exporting again replaces the old export.
    assert artifacts.export_model(source, fmt, tmp_path / name) == exported


def test_missing_exporter_names_the_extra(tmp_path, model, monkeypatch):
    source = save_model(model, tmp_path / "m.keras", CLASS_NAMES)
    monkeypatch.setitem(artifacts.EXPORT_NEEDS, "onnx", ("no_such_module_xyz", "fmnist[onnx]"))
    with pytest.raises(
        ArtifactError, match=r"needs no_such_module_xyz: pip install 'fmnist\[onnx\]'"
    ):
        artifacts.export_model(source, "onnx", tmp_path / "m.onnx")
