"""A hostile and careless user's corpus: each case once surprised someone, and must stay a
one-line error (or the right answer), a non-zero exit where it failed, no traceback, and
nothing half-written. Tiny synthetic data and models throughout."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import built_model
from fmnist.artifacts import LAMBDA_REFUSAL, ArtifactError, load_model, save_model
from fmnist.cli import main
from fmnist.errors import one_line
from fmnist.predict import Predictor
from fmnist.run_folder import (
    RunFolder,
    RunState,
    atomic_paths,
    remove_stale_temporaries,
    write_json,
)


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    return result


def one_error_line(result) -> str:
    """The output of a refused command: exactly one line, `Error: ...` (after Click's usage
    lines for a flag out of its range), no traceback."""
    assert result.exit_code != 0, result.output
    usage = ("Usage: ", "Try '")
    lines = [line for line in result.output.splitlines() if line and not line.startswith(usage)]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.keras"
    save_model(built_model("mlp"), path, metadata={"unsure_below": 0.3})
    return path


# --- every bad value refused before anything is made --------------------------------------

TRAIN_CASES = [
    (["--lr", "nan"], "learning_rate: must be a finite number"),
    (["--lr", "inf"], "learning_rate: must be a finite number"),
    (["--seed", "-1"], "seed: must be at least 0"),
    (["--batch-size", "1000000000"], "batch_size: must be at most 60000"),
    (["--epochs", "0"], "epochs"),
]


@pytest.mark.parametrize("flags,message", TRAIN_CASES)
def test_a_bad_training_value_is_one_line_before_any_run_folder(tmp_path, flags, message):
    runs = tmp_path / "runs"
    result = invoke("train", "--model", "mlp", "--runs-dir", runs, *flags)
    assert message in one_error_line(result)
    assert not runs.exists()


def test_a_nan_in_a_config_file_is_refused(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("learning_rate = nan\n")
    result = invoke("train", "--config", config, "--runs-dir", tmp_path / "runs")
    assert "learning_rate: must be a finite number" in one_error_line(result)
    assert not (tmp_path / "runs").exists()


def test_photos_without_photos_are_refused_before_training(tmp_path, synthetic_dir):
    (tmp_path / "photos").mkdir()
    runs = tmp_path / "runs"
    result = invoke(
        "train", "--model", "mlp", "--epochs", "1", "--data-dir", synthetic_dir,
        "--photos", tmp_path / "photos", "--runs-dir", runs,
    )  # fmt: skip
    assert "no photos in folders named" in one_error_line(result)
    assert not runs.exists()  # no epoch trained, no folder made


SWEEP_CASES = [
    ("space = 5", "space"),
    ("config = [1, 2]", "config"),
    ('cpus_per_trial = "two"', "cpus_per_trial"),
    ('time_limit_s = "soon"', "time_limit_s"),
    ("time_limit_s = -1", "time_limit_s"),
    ('seed = "abc"', "seed"),
]


@pytest.mark.parametrize("line,key", SWEEP_CASES)
def test_a_bad_sweep_file_is_one_line_naming_the_key(tmp_path, line, key):
    spec = tmp_path / "sweep.toml"
    space = "" if line.startswith("space") else "[space]\nlearning_rate = { grid = [0.01] }\n"
    spec.write_text(f'model = "mlp"\n{line}\n{space}')
    result = invoke("sweep", "--config", spec, "--runs-dir", tmp_path / "runs")
    assert key in one_error_line(result)
    assert not (tmp_path / "runs").exists()


# --- answers that must not be silently wrong ---------------------------------------------


def test_an_image_with_nothing_in_it_is_not_sure(tmp_path, model_file):
    for name, size, value in (("grey.png", 1, 128), ("white.png", 64, 255), ("dot.png", 2, 0)):
        Image.new("L", (size, size), value).save(tmp_path / name)
    answers = Predictor.load(model_file).predict_files(
        [tmp_path / "grey.png", tmp_path / "white.png", tmp_path / "dot.png"]
    )
    for answer in answers:
        assert answer.blank and answer.unsure
        assert answer.to_dict([]) | {"top_k": None} == answer.to_dict([]) | {
            "answer": "not sure: the image is blank", "sure": False, "top_k": None,
        }  # fmt: skip


def test_an_image_with_a_garment_is_not_blank(model_file, arrays):
    predictor = Predictor.load(model_file)
    answers = predictor.answer(arrays["test_images"][:5], [f"t{i}" for i in range(5)])
    assert not any(a.blank for a in answers)


FORMAT_CASES = [
    (2, "GIF", "a GIF image; fmnist reads PNG, JPEG or WebP"),
    (1, "GIF", "a GIF image; fmnist reads PNG, JPEG or WebP"),
    (1, "BMP", "a BMP image; fmnist reads PNG, JPEG or WebP"),
    (2, "WEBP", "an animated image (2 frames); give one still"),
    (2, "PNG", "an animated image (2 frames); give one still"),
]


@pytest.mark.parametrize("frames,fmt,words", FORMAT_CASES)
def test_other_formats_and_animations_are_refused(tmp_path, model_file, frames, fmt, words):
    first, second = Image.new("L", (28, 28), 0), Image.new("L", (28, 28), 255)
    path = tmp_path / f"image.{fmt.lower()}"
    first.save(path, fmt, **({"save_all": True, "append_images": [second]} if frames > 1 else {}))
    message = one_error_line(invoke("predict", "--model", model_file, path))
    assert message == f"Error: {path}: {words}"


def test_a_lambda_layer_refusal_is_a_whole_sentence(tmp_path):
    inputs = keras.Input((28, 28, 1))
    doubled = keras.layers.Lambda(lambda t: t * 2)(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(doubled))
    path = save_model(keras.Model(inputs, outputs), tmp_path / "lambda.keras")
    with pytest.raises(ArtifactError) as caught:
        load_model(path)
    assert str(caught.value) == f"{path}: {LAMBDA_REFUSAL}"
    assert str(caught.value).endswith("rebuild the model without Lambda layers")


def test_library_errors_become_one_readable_line():
    saving = (
        "{{function_node __wrapped__SaveV2_dtypes_10_device_/job:localhost/replica:0/task:0/"
        "device:CPU:0}} out/.model.1.tmp/variables/variables_temp/part-00000-of-00001.data-"
        "00000-of-00001.tempstate123; No space left on device [Op:SaveV2]"
    )
    assert one_line(RuntimeError(saving)) == "no space left on the disk"
    internal = "{{function_node __wrapped__Foo}} shapes do not match [Op:Foo]\nmore detail"
    assert one_line(ValueError(internal)) == "shapes do not match"
    long = "First sentence. " + "x" * 300
    assert one_line(ValueError(long)) == "First sentence."


# --- nothing half-written, nothing stale -------------------------------------------------


def test_a_set_of_files_is_replaced_whole_or_not_at_all(tmp_path):
    paths = [tmp_path / f"a_{k}.png" for k in ("28x28", "prediction", "bars")]
    for path in paths:
        path.write_text("old")
    with pytest.raises(RuntimeError), atomic_paths(*paths) as temporaries:
        temporaries[0].write_text("new")
        temporaries[1].write_text("new")
        raise RuntimeError("the disk filled while drawing the third")
    assert [p.read_text() for p in paths] == ["old", "old", "old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    with atomic_paths(*paths) as temporaries:
        for temporary in temporaries:
            temporary.write_text("new")
    assert [p.read_text() for p in paths] == ["new", "new", "new"]


def test_a_run_whose_process_is_gone_is_listed_as_interrupted(tmp_path):
    from fmnist.reports.runs import leaderboard

    run = RunFolder.create(tmp_path / "runs", "mlp")
    run.write_record({"config": {"model": "mlp"}})
    run.write_state(RunState(status="running"))
    state = json.loads(run.state_path.read_text())
    assert (state["pid"], state["host"]) == (os.getpid(), socket.gethostname())
    assert leaderboard(tmp_path / "runs")[0]["status"] == "running"  # this process lives
    gone = os.fork()
    if gone == 0:
        os._exit(0)
    os.waitpid(gone, 0)  # a process id that existed and is now gone, like a kill -9's
    run.state_path.write_text(json.dumps({**state, "pid": gone}))
    assert leaderboard(tmp_path / "runs")[0]["status"] == "interrupted"
    finished = RunState(status="finished")
    run.write_state(finished)
    assert "pid" not in json.loads(run.state_path.read_text())


def test_many_files_stream_in_order_without_their_images(tmp_path, model_file, arrays):
    paths = []
    for k, image in enumerate(arrays["test_images"][:12]):
        paths.append(tmp_path / f"{k:02d}.png")
        Image.fromarray(255 - image).save(paths[-1])
    paths.insert(5, tmp_path / "missing.png")
    predictor = Predictor.load(model_file)
    streamed = list(predictor.stream_files(paths, batch=4, workers=2))
    whole = predictor.predict_files(paths)
    assert [a.source for a in streamed] == [str(p) for p in paths]
    assert streamed[5].error == f"{paths[5]}: no such file" and whole[5].error == streamed[5].error
    for kept, light in zip(whole, streamed, strict=True):
        if not kept.error:
            np.testing.assert_allclose(kept.probabilities, light.probabilities, atol=1e-6)
            assert kept.steps.original is not None and light.steps.original is None
            assert light.steps.segmentation == kept.steps.segmentation


def test_json_lines_and_the_json_array_say_the_same(tmp_path, model_file, arrays):
    folder = tmp_path / "pngs"
    folder.mkdir()
    for k, image in enumerate(arrays["test_images"][:3]):
        Image.fromarray(255 - image).save(folder / f"{k}.png")
    Image.new("L", (4, 4), 0).save(folder / "bad.gif")  # not answered: a folder means its
    Image.new("L", (4, 4), 0).save(tmp_path / "bad.gif")  # PNG, JPEG and WebP files
    targets = (folder, tmp_path / "bad.gif")
    lines = invoke("predict", "--model", model_file, "--jsonl", *targets)
    array = invoke("predict", "--model", model_file, "--json", *targets)
    assert lines.exit_code == array.exit_code == 1  # the GIF given by name: failed, and said
    answers = [json.loads(line) for line in lines.stdout.splitlines()]
    assert answers == json.loads(array.stdout)
    assert [Path(a["source"]).name for a in answers] == ["0.png", "1.png", "2.png", "bad.gif"]
    assert "a GIF image" in answers[-1]["error"]


def test_what_a_killed_write_left_is_removed_by_the_next_write(tmp_path):
    gone = os.fork()
    if gone == 0:
        os._exit(0)
    os.waitpid(gone, 0)
    stale = tmp_path / f".stats.{gone}.tmp.json"  # a kill -9 mid-write leaves this
    stale.write_text("{half")
    alive = tmp_path / f".stats.{os.getppid()}.tmp.json"  # another live writer's: kept
    alive.write_text("{")
    folder = tmp_path / f".c.{gone}.tmp"  # a SavedModel export's folder
    folder.mkdir()
    write_json(tmp_path / "stats.json", {"ok": 1})
    remove_stale_temporaries(tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, "stats.json"])
