"""Learning photos: the set-valued and out-of-class loss, the class mapping, the cache, the
threshold, and a tiny fine-tune end to end."""

import json
import re

import numpy as np
import pytest

from conftest import photo_folder
from fmnist.data import CLASS_NAMES
from fmnist.data.photo_sets import (
    PhotoSetError,
    find_photo_set,
    load_mapping,
    split_photo_set,
)
from fmnist.inference.unsure import photo_threshold
from fmnist.photos.prepared import cache_key, prepare_photos
from fmnist.training.photo_learning import fmnist_targets, photo_targets, set_loss

SHOES = [CLASS_NAMES.index(n) for n in ("Sandal", "Sneaker", "Ankle boot")]


def loss_of(targets, probabilities, weight=0.5):
    """The loss of photos whose allowed classes are `targets` (0/1 over the ten)."""
    wide = photo_targets(np.float32(targets))
    return np.asarray(set_loss(weight)(wide, np.float32(probabilities)))


def test_a_set_label_is_the_negative_log_of_its_summed_probability():
    p = np.full((1, 10), 0.02)
    p[0, SHOES] = [0.3, 0.2, 0.34]
    shoes = np.zeros((1, 10))
    shoes[0, SHOES] = 1
    assert loss_of(shoes, p)[0] == pytest.approx(-np.log(0.84), rel=1e-5)
    # any split of the same mass among the three costs the same: no class is forced
    q = p.copy()
    q[0, SHOES] = [0.0, 0.84, 0.0]
    assert loss_of(shoes, q)[0] == pytest.approx(loss_of(shoes, p)[0], rel=1e-4)


def test_one_class_is_plain_cross_entropy():
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10), size=5)
    labels = rng.integers(0, 10, 5)
    one_hot = np.eye(10)[labels]
    assert loss_of(one_hot, p).mean() == pytest.approx(
        log_loss(labels, p, labels=range(10)), rel=1e-4
    )


def test_a_fashion_mnist_image_matches_its_label_blended_with_the_runs_answer():
    rng = np.random.default_rng(1)
    answers = rng.dirichlet(np.ones(10), size=4).astype(np.float32)
    labels = np.array([0, 3, 7, 9])
    p = rng.dirichlet(np.ones(10), size=4).astype(np.float32)
    targets = fmnist_targets(labels, answers, distill=0.7)
    blend = 0.3 * np.eye(10)[labels] + 0.7 * answers  # worked by hand: KL's cross-entropy
    expected = -(blend * np.log(p)).sum(axis=1)
    got = np.asarray(set_loss(0.5)(targets, p))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert np.allclose(targets[:, 10:].sum(axis=1), 1) and not targets[:, :10].any()


def test_out_of_class_photos_are_pushed_toward_uniform():
    uniform = np.full((1, 10), 0.1)
    peaked = np.full((1, 10), 0.01)
    peaked[0, 3] = 0.91
    empty = np.zeros((1, 10))
    assert loss_of(empty, uniform, 1.0)[0] == pytest.approx(np.log(10), rel=1e-5)
    assert loss_of(empty, peaked, 1.0)[0] > loss_of(empty, uniform, 1.0)[0]
    assert loss_of(empty, peaked, 0.5)[0] == pytest.approx(loss_of(empty, peaked, 1.0)[0] / 2)


def test_the_shipped_mapping_is_photos_trains_layout():
    mapping = load_mapping()
    assert mapping["shoes"] == tuple(sorted(SHOES))  # closed shoes: any of the three
    assert [mapping[k] for k in ("sneaker", "sandal", "ankle-boot")] == [(7,), (5,), (9,)]
    assert mapping["t-shirt"] == (0,) and mapping["hat"] == mapping["skirt"] == ()


@pytest.mark.parametrize(
    "text, message",
    [
        ("folders = 3", "expected a [folders] table"),
        ("[folders]\nhat = 'Beret'", "folders.hat: 'Beret' is not a class"),
        ("[folders]\nhat = 7", "folders.hat: expected a class name"),
        ("[folders]\nhat = []\n[extra]\nx = 1", "unknown key 'extra'"),
        ("[folders\n", "not valid TOML"),
    ],
)
def test_a_bad_mapping_file_is_one_line_naming_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "classes.toml"
    path.write_text(text)
    with pytest.raises(PhotoSetError, match=re.escape(message)) as raised:
        load_mapping(path)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_a_photo_set_reads_its_own_mapping_and_splits_each_folder(tmp_path):
    root = photo_folder(tmp_path / "mine", {"boots": 4, "caps": 6, "ignored": 2})
    (root / "classes.toml").write_text("[folders]\nboots = ['Ankle boot', 'Sneaker']\ncaps = []\n")
    photos = find_photo_set(root)
    assert photos.counts() == {"boots": 4, "caps": 6}
    targets = photos.targets()
    assert targets[:4, [7, 9]].all() and targets[:4].sum() == 8 and targets[4:].sum() == 0
    learn, held = split_photo_set(photos, 0.5, seed=1)
    assert sorted(learn + held) == list(range(10)) and len(held) == 5
    with pytest.raises(PhotoSetError, match="no photos in folders named"):
        find_photo_set(tmp_path / "mine" / "caps")


def test_prepared_photos_are_cached_by_content(tmp_path):
    root = photo_folder(tmp_path / "p", {"shirt": 3})
    files = sorted((root / "shirt").iterdir())
    cache = tmp_path / "cache"
    first = prepare_photos(files, cache, workers=1)
    assert first.shape == (3, 28, 28) and first.dtype == np.uint8
    assert sorted(p.stem for p in cache.iterdir()) == sorted(cache_key(f) for f in files)
    copy = root / "shirt" / "copy.png"
    copy.write_bytes(files[0].read_bytes())  # same bytes, another name: from the cache
    (cache / f"{cache_key(files[1])}.npy").write_bytes(b"damaged")  # prepared again
    again = prepare_photos([copy, files[1]], cache, workers=1)
    np.testing.assert_array_equal(again, first[:2])


def test_the_photo_threshold_makes_the_sure_answers_right_often_enough():
    rng = np.random.default_rng(0)
    top = rng.uniform(0.2, 1.0, 300)
    p = np.full((300, 10), 0.0)
    p[:, 0] = top
    p[:, 1:] = ((1 - top) / 9)[:, None]
    in_class = rng.random(300) < 0.8
    right = rng.random(300) < top  # surer answers are right more often
    threshold = photo_threshold(p, in_class, right, 0.95)
    sure = in_class & (top >= threshold)
    assert right[sure].mean() >= 0.95
    # the lowest such threshold: with the next surest answer too, they fall short
    below = np.flatnonzero(in_class & (top < threshold))
    extra = below[np.argmax(top[below])]
    assert right[sure | (np.arange(300) == extra)].mean() < 0.95
    assert photo_threshold(p, np.zeros(300, bool), right, 0.95) == 0.0
    nothing_right = photo_threshold(p, in_class, np.zeros(300, bool), 0.95)
    assert nothing_right > top.max()  # no answer is sure when none is right


PLAIN_KERAS_LOAD = """
import pickle, sys
import keras, numpy as np
for path in sys.argv[1:]:
    if path.endswith(".pkl"):
        with open(path, "rb") as stream:
            model = pickle.load(stream)["model"]
    else:
        model = keras.models.load_model(path)  # as the tutorials reload theirs
    assert model.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0).shape == (2, 10)
    assert "fmnist" not in sys.modules
print("loaded", len(sys.argv) - 1)
"""


@pytest.mark.slow
def test_learning_photos_records_what_it_learned(tmp_path, monkeypatch):
    """`fmnist run` with photos: what was learned, recorded and reported; every model file
    it saves loads in a fresh Python that never imports fmnist (plain Keras, pickle)."""
    import subprocess
    import sys

    from click.testing import CliRunner

    from conftest import make_arrays, write_folder
    from fmnist.artifacts import read_metadata
    from fmnist.cli import main
    from fmnist.data import download

    training_dir = write_folder(tmp_path / "training", make_arrays(200, 40))
    md5 = {name: download.md5_file(training_dir / name) for name in download.MD5}
    monkeypatch.setattr(download, "MD5", md5)  # the synthetic files count as the published
    monkeypatch.setenv("FMNIST_CACHE_DIR", str(tmp_path / "cache"))
    root = photo_folder(tmp_path / "photos", {"t-shirt": 6, "shoes": 6, "hat": 6})
    result = CliRunner().invoke(
        main,
        ["run", "--model", "mlp", "--epochs", "1", "--data-dir", str(training_dir),
         "--runs-dir", str(tmp_path / "runs"), "--photos", str(root)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    files = [str(run / f"model.{suffix}") for suffix in ("keras", "h5", "pkl")]
    loaded = subprocess.run(
        [sys.executable, "-c", PLAIN_KERAS_LOAD, *files], capture_output=True, text=True
    )
    assert loaded.returncode == 0 and "loaded 3" in loaded.stdout, loaded.stderr[-2000:]
    record = json.loads((run / "photos.json").read_text())
    info = read_metadata(run / "model.keras")
    assert info["photo_learning"]["learned_from"] + info["photo_learning"]["held_out"] == 18
    assert info["unsure_below"] == pytest.approx(record["unsure_below"], abs=1e-6)
    assert set(record["held_out_scores"]["after"]["folders"]) == {"t-shirt", "shoes", "hat"}
    assert "[photos] held-out photos top-1" in result.output
    from fmnist.evaluation.diagnosis import diagnose
    from fmnist.reports.report import build_report

    assert diagnose(run)[-1]["key"] == "photos"
    html = build_report(run)
    assert re.search(r"Learned from \d+ labelled photos", html) and "photos_held_out" not in html
    assert (run / "plots" / "photos_held_out.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "plots" / "photos_risk_coverage.png").read_bytes()[:4] == b"\x89PNG"
    assert "sure answers right" in html and "answered as sure" in html
    # compared with a run that learned no photos: its extra question shows, no traceback
    plain = CliRunner().invoke(
        main,
        ["train", "--model", "mlp", "--epochs", "1", "--data-dir", str(training_dir),
         "--runs-dir", str(tmp_path / "plain")],
    )  # fmt: skip
    assert plain.exit_code == 0, plain.output
    (other,) = (tmp_path / "plain").iterdir()
    from fmnist.reports.runs import comparison

    questions = {q[0]: q for q in comparison(run, other)["questions"]}
    photos_row = questions["How does it do on people's photos?"]
    assert photos_row[3] == "unknown" and photos_row[4] == "not asked of this run"


@pytest.mark.slow
def test_real_photos_are_learned_with_footwear_exact(photos_train_dir, real_data_dir, tmp_path):
    """photos-train as `fmnist run` finds it, a few photos of each folder (its own
    classes.toml beside them): footwear kinds learned as one class each, closed shoes as a
    set, out-of-class folders as none; one pass, on a small model."""
    import shutil

    from fmnist.training.config import resolve_config
    from fmnist.training.photo_learning import PhotoLearning, learn_photos
    from fmnist.training.train import train

    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(photos_train_dir / "classes.toml", photos / "classes.toml")
    for folder in (p for p in photos_train_dir.iterdir() if p.is_dir()):
        (photos / folder.name).mkdir()
        for path in sorted(folder.iterdir())[:8]:
            shutil.copy(path, photos / folder.name / path.name)
    config = resolve_config(
        None, model="mlp", epochs=1, data_dir=str(real_data_dir), runs_dir=str(tmp_path)
    )
    run = train(config)
    record = learn_photos(run, PhotoLearning(str(photos), epochs=1), echo=lambda *a: None)
    assert record.learned_from + record.held_out == 13 * 8
    assert record.folders["sneaker"] == ["Sneaker"] and record.folders["hat"] == []
    assert record.folders["shoes"] == ["Sandal", "Sneaker", "Ankle boot"]
    sneakers = record.after.folders["sneaker"]
    assert sneakers.photos == 1 and sneakers.top1 is not None  # scored exactly, as one class
