"""Config as data: recipe, file and flag precedence; unknown keys and wrong types refused."""

import re

import pytest

from fmnist.training.config import (
    ConfigError,
    TrainConfig,
    load_config_file,
    make_config,
    resolve_config,
    whole_epochs,
)
from fmnist.training.models import DEFAULT_MODEL, get_spec


def test_defaults_then_recipe_then_file_then_flags(tmp_path):
    # no model named: the default recipe, the same one `fmnist run` trains
    assert resolve_config().model == DEFAULT_MODEL == "lean_cnn"
    assert resolve_config().epochs == get_spec(DEFAULT_MODEL).recipe["epochs"]
    recipe = resolve_config(model="cnn_bn")
    assert (recipe.batch_size, recipe.schedule, recipe.flip) == (256, "cosine", True)
    path = tmp_path / "c.toml"
    path.write_text('model = "cnn_bn"\nepochs = 3\nlearning_rate = 0.01\n')
    from_file = resolve_config(path)
    assert (from_file.model, from_file.epochs, from_file.batch_size) == ("cnn_bn", 3, 256)
    flagged = resolve_config(path, epochs=5, learning_rate=None)
    assert (flagged.epochs, flagged.learning_rate) == (5, 0.01)


@pytest.mark.parametrize(
    "name, text",
    [
        ("c.yaml", "epochs: 4\nflip: true\n"),
        ("c.json", '{"epochs": 4, "flip": true}'),
        ("c.toml", "epochs = 4\nflip = true\n"),
    ],
)
def test_file_formats(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert load_config_file(path) == {"epochs": 4, "flip": True}


def test_unknown_key_is_refused():
    with pytest.raises(ConfigError, match="unknown config key 'epoch'; known keys: model"):
        make_config({"epoch": 3})


@pytest.mark.parametrize(
    "values, message",
    [
        ({"epochs": "3"}, "epochs: expected"),
        ({"flip": 1}, "flip: expected"),
        ({"batch_size": 0}, "batch_size: must be at least 1"),
        ({"optimizer": "rmsprop"}, "optimizer: 'rmsprop' is not one of adam, adamw, sgd"),
        ({"val_fraction": 1.5}, "val_fraction"),
        ({"epochs": True}, "epochs: expected"),
        ({"epochs": 0}, "epochs: must be above 0"),
    ],
)
def test_wrong_values_are_refused(values, message):
    with pytest.raises(ConfigError, match=message):
        make_config(values)


def test_epochs_may_end_part_way_through_the_last():
    assert make_config({"epochs": 0.7}).epochs == 0.7
    assert repr(make_config({"epochs": 8.0}).epochs) == "8"  # a whole number stays one
    assert whole_epochs(0.7) == 1 and whole_epochs(2.0) == 2 and whole_epochs(2.5) == 3


def test_int_is_accepted_where_float_is_expected():
    assert make_config({"learning_rate": 1}).learning_rate == 1.0
    assert isinstance(make_config({"learning_rate": 1}).learning_rate, float)


def test_broken_files(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("epochs = = 3")
    with pytest.raises(ConfigError, match=r"c.toml: not valid TOML"):
        load_config_file(bad)
    (tmp_path / "c.ini").write_text("[train]\nepochs = 3\n")
    with pytest.raises(ConfigError, match="unknown config format"):
        load_config_file(tmp_path / "c.ini")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(tmp_path / "missing.toml")


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        TrainConfig().epochs = 3


@pytest.mark.parametrize("name", ["a/../../x", "..", "a\\b", ""])
def test_run_names_cannot_leave_the_runs_folder(name):
    with pytest.raises(ConfigError, match="must be a plain folder name"):
        make_config({"name": name})
    assert make_config({"name": "try-2"}).name == "try-2"


@pytest.mark.parametrize(
    "values, message",
    [
        ({"learning_rate": float("nan")}, "learning_rate: must be a finite number, got nan"),
        ({"learning_rate": float("inf")}, "learning_rate: must be a finite number, got inf"),
        ({"learning_rate": 0}, "learning_rate: must be above 0"),
        ({"seed": -1}, "seed: must be at least 0, got -1"),
        ({"seed": 2**32}, "seed: must be at most 4294967295"),
        ({"batch_size": 10**9}, "batch_size: must be at most 60000, got 1000000000"),
        ({"label_smoothing": 1.0}, "label_smoothing: must be below 1"),
        ({"warmup_epochs": float("nan")}, "warmup_epochs: must be a finite number"),
    ],
)
def test_values_out_of_range_are_refused_before_any_work(values, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_config(values)


def test_a_bad_flag_makes_no_run_folder(tmp_path):
    from click.testing import CliRunner

    from fmnist.cli import main

    for flags in (["--lr", "nan"], ["--seed", "-1"], ["--batch-size", "1000000000"]):
        result = CliRunner().invoke(
            main, ["train", "--model", "mlp", "--runs-dir", str(tmp_path / "runs"), *flags]
        )
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert not (tmp_path / "runs").exists()
