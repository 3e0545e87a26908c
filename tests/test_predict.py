"""Prediction: photo preprocessing on synthetic pictures, the Predictor, the command."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import built_model, make_arrays, write_folder
from fmnist.artifacts import save_model
from fmnist.cli import main
from fmnist.data.dataset import CLASS_NAMES
from fmnist.photos.prepare import PhotoError, load_photo, prepare_photo
from fmnist.predict import Predictor


def product_photo(width, height, article=(60, 60, 60), background=(255, 255, 255), margin=0.2):
    """A dark article (a rectangle) on a plain background, like a shop's product photo."""
    pixels = np.zeros((height, width, 3), np.uint8) + np.array(background, np.uint8)
    top, left = int(height * margin), int(width * margin)
    pixels[top : height - top, left : width - left] = article
    return Image.fromarray(pixels)


def bounding_box(image, threshold=128):
    rows, cols = (
        np.flatnonzero((image > threshold).any(1)),
        np.flatnonzero((image > threshold).any(0)),
    )
    return rows[0], rows[-1], cols[0], cols[-1]


@pytest.mark.parametrize("width, height", [(300, 120), (80, 400), (500, 500), (37, 29)])
def test_photo_becomes_a_centred_light_article_on_dark(width, height):
    out = prepare_photo(product_photo(width, height))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    top, bottom, left, right = bounding_box(out)
    assert out[top : bottom + 1, left : right + 1].mean() > 170  # light article
    assert out[0, 0] < 10 and out[-1, -1] < 10 or min(top, left) == 0  # dark ground
    assert max(bottom - top + 1, right - left + 1) == 28  # longest edge fills the canvas
    aspect = (right - left + 1) / (bottom - top + 1)
    expected = (width * 0.6) / (height * 0.6)
    assert aspect == pytest.approx(expected, rel=0.25)  # aspect kept (within rounding)
    assert abs((top + bottom) / 2 - 13.5) <= 1 and abs((left + right) / 2 - 13.5) <= 1


def test_transparent_png_and_grayscale_input():
    rgba = np.zeros((200, 100, 4), np.uint8)
    rgba[40:160, 20:80] = (30, 30, 30, 255)  # opaque article, transparent elsewhere
    out = prepare_photo(Image.fromarray(rgba, "RGBA"))
    assert out[0, 0] == 0 and out[14, 14] > 170
    gray = prepare_photo(product_photo(90, 45).convert("L"))  # wide: background above, below
    assert gray[14, 14] > 170 and gray[0, 14] == 0


def test_dark_background_is_not_negated():
    out = prepare_photo(product_photo(60, 120, article=(230, 230, 230), background=(0, 0, 0)))
    assert out[14, 14] > 170 and out[14, 0] < 10


def test_unreadable_files_are_named(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(PhotoError, match=r"notes.png: not a readable image"):
        load_photo(text)
    truncated = tmp_path / "cut.png"
    product_photo(100, 100).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(PhotoError, match=r"cut.png: cannot decode the image"):
        load_photo(truncated)
    big = tmp_path / "big.png"
    product_photo(100, 100).save(big)
    with pytest.raises(PhotoError, match=r"100x100 pixels is over the limit of 5,000"):
        load_photo(big, max_pixels=5000)
    with pytest.raises(PhotoError, match="no such file"):
        load_photo(tmp_path / "missing.jpg")


@pytest.fixture(scope="module")
def predictor():
    return Predictor(built_model("cnn"), CLASS_NAMES)


def test_predictor_equals_model_predict(predictor):
    images = make_arrays()["test_images"]
    expected = predictor.model.predict(images[..., None].astype(np.float32), verbose=0)
    np.testing.assert_allclose(predictor.probabilities(images), expected, rtol=1e-5, atol=1e-7)
    single = predictor.probabilities(images[3])
    np.testing.assert_allclose(single[0], expected[3], rtol=1e-5, atol=1e-7)
    top = predictor.top_k(images[:2], k=4)
    assert len(top[0]) == 4 and [p for _, p in top[0]] == sorted(
        [p for _, p in top[0]], reverse=True
    )
    assert top[0][0][0] == CLASS_NAMES[int(np.argmax(expected[0]))]


def test_predict_files_answers_the_readable_ones(tmp_path, predictor):
    good = tmp_path / "shirt.jpg"
    product_photo(200, 260).save(good, quality=90)
    bad = tmp_path / "broken.webp"
    bad.write_bytes(b"RIFF....WEBPVP8 garbage")
    answers = predictor.predict_files([good, bad, good])
    assert [bool(a.error) for a in answers] == [False, True, False]
    assert "broken.webp" in answers[1].error
    assert answers[0].image.shape == (28, 28) and len(answers[0].top) == 3


@pytest.fixture
def model_file(tmp_path, predictor):
    return save_model(predictor.model, tmp_path / "m.keras", CLASS_NAMES)


def test_command_on_test_indices_json(tmp_path, model_file, isolated_env):
    folder = write_folder(tmp_path / "d", make_arrays())
    result = CliRunner().invoke(
        main,
        [
            "predict",
            "--model",
            str(model_file),
            "--index",
            "0",
            "7",
            "--json",
            "--data-dir",
            str(folder),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    answers = json.loads(result.output[: result.output.rindex("]") + 1])
    assert [a["source"] for a in answers] == ["test[0]", "test[7]"]
    assert {"top_k", "true", "correct"} <= set(answers[0])
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"grid.png", "test-0_bars.png", "test-0_prediction.png", "test-7_28x28.png"} <= written


def test_command_on_files_reports_bad_ones_and_exits_1(tmp_path, model_file):
    good = tmp_path / "boot.png"
    product_photo(300, 200).save(good)
    bad = tmp_path / "empty.jpg"
    bad.write_bytes(b"")
    result = CliRunner().invoke(
        main,
        [
            "predict",
            "--model",
            str(model_file),
            str(good),
            str(bad),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 1
    assert f"{good}: " in result.output and "empty.jpg: not a readable image" in result.output
    seen = np.asarray(Image.open(tmp_path / "out" / "boot_28x28.png"))
    assert seen.shape == (28, 28)


def test_command_needs_exactly_one_kind_of_target(model_file):
    result = CliRunner().invoke(main, ["predict", "--model", str(model_file)])
    assert result.exit_code == 2 and "give test indices" in result.output


def test_real_image_survives_the_photo_round_trip(real_data_dir):
    """A real test image printed as a shop photo (dark on white, larger, padded, JPEG)
    comes back close to the original pixels."""
    from fmnist.data.dataset import load_dataset

    original = load_dataset("folder", real_data_dir).test_images[1]  # a pullover
    photo = Image.fromarray(255 - original).resize((280, 280), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (400, 340), 255)
    canvas.paste(photo, (60, 30))
    out = prepare_photo(canvas.convert("RGB"))
    correlation = np.corrcoef(out.ravel().astype(float), original.ravel().astype(float))[0, 1]
    assert correlation > 0.9


def test_command_on_test_indices_marks_wrong_answers_and_counts(tmp_path, model_file, isolated_env):
    folder = write_folder(tmp_path / "d", make_arrays())
    args = ["predict", "--model", str(model_file), "--random", "6", "--data-dir", str(folder)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("test[")]
    assert len(lines) == 6 and all(line.endswith((": right)", ": WRONG)")) for line in lines)
    right = sum(line.endswith(": right)") for line in lines)
    assert result.output.splitlines()[-1] == f"{right} of 6 correct"


def test_a_folder_without_images_is_one_line(tmp_path, model_file):
    (tmp_path / "notes.txt").write_text("not a photo")
    result = CliRunner().invoke(main, ["predict", "--model", str(model_file), str(tmp_path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert f"{tmp_path}: no image files in it (.jpg, .jpeg, .png, .webp)" in result.output


def test_flip_tta_averages_each_answer_with_its_mirror_image():
    from conftest import built_model

    model = built_model("mlp")
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.float32)
    plain = model.predict(images[..., None], verbose=0)
    mirrored = model.predict(images[:, :, ::-1, None], verbose=0)
    both = Predictor(model, tta=1).probabilities(images)
    np.testing.assert_allclose(both, (plain + mirrored) / 2, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(Predictor(model).probabilities(images), plain, rtol=1e-4, atol=1e-6)


def test_shift_tta_averages_ten_views_in_batches_of_any_size(tmp_path):
    """Shift TTA: the image moved one pixel up, down, left and right (background filling
    the edge) and all five mirrored, averaged; the same whatever the batch size; and a
    saved model answers so by itself (its recipe's views travel in the file)."""
    from conftest import built_model
    from fmnist.artifacts import save_model

    model = built_model("mlp")
    images = np.random.default_rng(1).integers(1, 256, (7, 28, 28)).astype(np.float32)
    up = np.zeros_like(images)
    up[:, :-1] = images[:, 1:]  # moved up one pixel: the bottom row is background
    views = [images, up]
    for dy, dx in ((1, 0), (0, 1), (0, -1)):
        moved = np.zeros_like(images)
        moved[:, max(dy, 0) : 28 + min(dy, 0), max(dx, 0) : 28 + min(dx, 0)] = images[
            :, max(-dy, 0) : 28 + min(-dy, 0), max(-dx, 0) : 28 + min(-dx, 0)
        ]
        views.append(moved)
    views += [v[:, :, ::-1] for v in views]
    expected = np.mean([model.predict(v[..., None], verbose=0) for v in views], axis=0)
    predictor = Predictor(model, tta=2)
    for batch_size in (1, 3, 1024):
        got = predictor.probabilities(images, batch_size=batch_size)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    path = save_model(model, tmp_path / "m.keras", None, {"tta": 2})
    loaded = Predictor.load(path)
    assert loaded.tta == 2
    np.testing.assert_allclose(loaded.probabilities(images), expected, rtol=1e-4, atol=1e-6)
    # a file saved before levels carried two switches: read as the level they meant
    older = save_model(model, tmp_path / "old.keras", None, {"flip_tta": True, "shift_tta": True})
    assert Predictor.load(older).tta == 2


def test_tta_is_one_level_and_older_configs_read_as_the_level_they_meant():
    from fmnist.training.config import ConfigError, make_config

    assert make_config({"tta": 2}).tta == 2
    assert make_config({"tta": True, "shift_tta": True}).tta == 2  # a run folder of before
    assert make_config({"tta": True}).tta == 1 and make_config({"tta": False}).tta == 0
    with pytest.raises(ConfigError, match="shift_tta: .* set tta too"):
        make_config({"shift_tta": True, "tta": False})
    with pytest.raises(ConfigError, match="tta: must be at most 2"):
        make_config({"tta": 3})


def test_the_grid_draws_a_not_sure_answer_in_amber():
    from matplotlib.colors import to_hex

    from fmnist.plots import RIGHT_COLOR, UNSURE_COLOR, WRONG_COLOR, prediction_grid

    images = np.zeros((3, 28, 28), np.uint8)
    names = [f"c{k}" for k in range(10)]
    figure = prediction_grid(
        images, [1, 2, 3], [1, 2, 4], [0.9, 0.32, 0.8], names, unsure=[False, True, False]
    )
    axes = figure.axes[:3]
    assert [to_hex(a.title.get_color()) for a in axes] == [RIGHT_COLOR, UNSURE_COLOR, WRONG_COLOR]
    assert axes[1].get_title().startswith("? c2 32%")


@pytest.mark.slow
def test_the_why_map_lies_on_the_garment_and_reads_as_words(real_data_dir):
    """Measured, not trusted: a model trained briefly on the real data, its map for the
    answered class on real test images, mostly on the garment's own pixels (which cover
    under half of an image); and the map's reading names where its evidence is."""
    from conftest import built_model
    from fmnist.data import load_dataset
    from fmnist.predict.saliency import mass_on_garment, reading, region_shares, saliency_map

    data = load_dataset(data_dir=real_data_dir)
    model = built_model("mlp")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(
        data.train_images[:2000, ..., None].astype("float32"),
        data.train_labels[:2000],
        epochs=2,
        verbose=0,
    )
    images = data.test_images[:40].astype("float32")
    answered = np.argmax(model.predict(images[..., None], verbose=0), axis=1)
    shares = [
        mass_on_garment(saliency_map(model, x, int(c)), x)
        for x, c in zip(images, answered, strict=True)
    ]
    assert np.mean(images > 16) < 0.5 and min(shares) > 0.9
    heat = np.zeros((28, 28))
    heat[:9, 9:19], heat[9:19, 9:19] = 2.0, 1.0
    assert region_shares(heat)[0] == ("the top", pytest.approx(180 / 280))  # 90 pixels of 2
    assert reading(heat, "Shirt") == "the collar drove Shirt (64% of the evidence)"
    assert reading(heat, "Trouser") == "the waistband drove Trouser (64% of the evidence)"
    # a part that spans two ninths adds them up: a sandal's straps, top and middle
    assert region_shares(heat, "Sandal")[0] == ("the straps", pytest.approx(1.0))
    assert reading(np.zeros((28, 28)), "Bag") == "no pixel raised the probability of Bag"
