"""The command line: exit codes, one-line errors, JSON output."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import NAMES, make_arrays, write_folder
from fmnist import __version__
from fmnist.cli import main
from fmnist.data import idx


def invoke(*args):
    result = CliRunner().invoke(main, list(map(str, args)))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    return result


def test_help_and_version():
    help_text = invoke("--help")
    assert help_text.exit_code == 0
    commands = help_text.output.split("Commands:")[1].splitlines()
    assert not any(line.rstrip().endswith("...") for line in commands)  # whole, not cut
    assert "write the HTML report." in " ".join(help_text.output.split())
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


@pytest.mark.parametrize(
    "where, message",
    [("nowhere", "no such folder"), (".", "none of the four Fashion-MNIST files is here")],
)
def test_verify_without_the_files_is_one_line(tmp_path, isolated_env, where, message):
    folder = (tmp_path / where).resolve()
    result = invoke("data", "verify", "--data-dir", folder)
    assert result.exit_code == 1 and result.output == f"Error: {folder}: {message}\n"


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


def test_models_lists_every_model_with_parameters():
    from fmnist.training.models import list_models

    result = invoke("models")
    assert result.exit_code == 0
    lines = result.output.splitlines()[2:]  # under the header and its rule
    assert [line.split()[0] for line in lines] == list_models()
    assert "130,890" in next(line for line in lines if line.startswith("cnn "))


def train_run(runs_dir, *args):
    """`fmnist train ARGS --runs-dir RUNS_DIR`, which must succeed; (result, run folder)."""
    result = invoke("train", *args, "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    (run_dir,) = runs_dir.iterdir()
    return result, run_dir


@pytest.fixture
def training_dir(tmp_path):
    return write_folder(tmp_path / "training", make_arrays(200, 40))


def test_train_command_writes_a_run_and_prints_its_folder(tmp_path, training_dir):
    result, run_dir = train_run(
        tmp_path / "runs",
        "--model",
        "mlp",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--data-dir",
        training_dir,
        "--name",
        "t",
    )
    assert "mlp: test accuracy" in result.output
    assert run_dir.name.endswith("-t") and f"Run folder: {run_dir}" in result.output
    report = run_dir / "report.html"  # a plain train run has its report, and says where
    assert f"Report: {report}" in result.output and "Diagnosis" in report.read_text()
    config = json.loads((run_dir / "config.json").read_text())["config"]
    assert (config["epochs"], config["batch_size"], config["data_dir"]) == (
        1,
        16,
        str(training_dir),
    )


def test_train_config_file_and_flag_override(tmp_path, training_dir):
    path = tmp_path / "c.yaml"
    path.write_text("model: mlp\nepochs: 3\nbatch_size: 16\n")
    _, run_dir = train_run(
        tmp_path / "runs", "--config", path, "--epochs", "1", "--data-dir", training_dir
    )
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_run"] == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "vit"], "unknown model 'vit'; known models: mlp"),
        (["--resume", "/nonexistent"], "not a run folder (no config.json)"),
    ],
)
def test_train_errors_are_one_line(args, message):
    result = invoke("train", *args)
    assert result.exit_code == 1 and message in result.output
    assert result.output.count("\n") == 1


def test_bad_config_key_exits_1(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("epoch = 3\n")
    result = invoke("train", "--config", path)
    assert result.exit_code == 1 and "unknown config key 'epoch'" in result.output


@pytest.fixture
def tiny_run(tmp_path, training_dir):
    return train_run(
        tmp_path / "runs", "--model", "mlp", "--epochs", "1", "--data-dir", training_dir
    )[1]


def snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_evaluate_leaves_the_run_record_alone(tiny_run, training_dir):
    before = snapshot(tiny_run)
    result = invoke("evaluate", tiny_run, "--json", "--split", "val")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["images"] == 20 and metrics["tta"] == 0  # the run's own split
    after = snapshot(tiny_run)
    own = tiny_run / "evaluations" / "val-plain"
    assert {p: b for p, b in after.items() if own not in p.parents} == before  # byte for byte
    saved = json.loads((own / "metrics.json").read_text())
    assert saved["evaluation"]["val"]["accuracy"] == metrics["accuracy"]
    # the run's own record, made when it trained, holds the same number
    recorded = json.loads((tiny_run / "metrics.json").read_text())["evaluation"]["val"]
    assert recorded["accuracy"] == metrics["accuracy"]


def test_evaluate_update_writes_into_the_run_and_its_report(tiny_run):
    result = invoke("evaluate", tiny_run, "--split", "val", "--update")
    assert result.exit_code == 0, result.output
    saved = json.loads((tiny_run / "metrics.json").read_text())
    assert saved["epochs_run"] == 1 and saved["evaluation"]["val"]["images"] == 20
    assert (tiny_run / "plots" / "confusion_matrix_val.png").is_file()
    assert (tiny_run / "report.html").is_file()


@pytest.mark.slow
def test_evaluate_uses_the_runs_own_tta(tmp_path, training_dir):
    config = tmp_path / "c.toml"
    config.write_text('model = "mlp"\nepochs = 1\ntta = true\n')
    _, run_dir = train_run(tmp_path / "runs", "--config", config, "--data-dir", training_dir)
    result = invoke("evaluate", run_dir)
    assert result.exit_code == 0, result.output
    assert "test split, with flip TTA (the run's setting)" in result.output
    assert "without)" in result.output  # the plain accuracy stands beside
    assert (run_dir / "evaluations" / "test-tta" / "metrics.json").is_file()
    plain = json.loads(invoke("evaluate", run_dir, "--no-tta", "--json").output)
    assert plain["tta"] == 0 and "accuracy_without_tta" not in plain


def test_evaluate_a_folder_of_runs_names_one(tiny_run):
    result = invoke("evaluate", tiny_run.parent)
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "a folder of runs, not a run folder; name one of its 1" in result.output
    assert str(tiny_run) in result.output


def test_evaluate_a_model_file_writes_beside_it(tiny_run, training_dir, tmp_path):
    model = tiny_run / "model.keras"
    result = invoke("evaluate", model, "--data-dir", training_dir, "--tta")
    assert result.exit_code == 0, result.output
    assert "Most confused" in result.output
    assert (tiny_run / "model-evaluation" / "metrics.json").is_file()


def test_convert_verify_and_pickle_refusal(tiny_run, training_dir, tmp_path):
    pkl = tmp_path / "m.pkl"
    assert invoke("convert", tiny_run / "model.keras", pkl).exit_code == 0
    refused = invoke("verify", pkl, "--data-dir", training_dir)
    assert refused.exit_code == 1 and "refusing to load a pickle" in refused.output
    assert refused.output.count("\n") == 1
    trusted = invoke("verify", pkl, "--trust-pickle", "--json", "--data-dir", training_dir)
    assert trusted.exit_code == 0 and json.loads(trusted.output)["label_agreement"] == 1.0
    both = invoke(
        "verify", tiny_run / "model.keras", pkl, "--trust-pickle", "--data-dir", training_dir
    )
    assert both.exit_code == 0 and "100.00% of 40 labels agree" in both.output


def test_truncated_model_is_one_line_exit_1(tiny_run, tmp_path):
    broken = tmp_path / "broken.keras"
    broken.write_bytes((tiny_run / "model.keras").read_bytes()[:500])
    result = invoke("predict", "--model", broken, "--index", "0")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "broken.keras: not a .keras file" in result.output


def test_export_command(tiny_run, tmp_path):
    result = invoke(
        "export", tiny_run / "model.keras", "--format", "onnx", "--out", tmp_path / "m.onnx"
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.onnx").stat().st_size > 1000


@pytest.mark.slow
def test_commands_print_no_tensorflow_start_up_noise():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "fmnist", "models"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0 and "cnn_bn" in result.stdout
    assert result.stderr == ""


def test_run_with_an_unknown_format_fails_before_any_work(tmp_path, training_dir):
    runs = tmp_path / "runs"
    result = invoke(
        "run", "--formats", "keras,onnx", "--runs-dir", runs, "--data-dir", training_dir
    )
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "--formats: unknown format 'onnx'; choose from keras, h5, pkl" in result.output
    assert not runs.exists()  # no run folder: nothing trained, nothing listed as finished


def test_every_option_of_every_command_has_help_text():
    import click

    def missing(command, path):
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and not param.help:
                yield f"{path} {'/'.join(param.opts)}"
        for name, sub in getattr(command, "commands", {}).items():
            yield from missing(sub, f"{path} {name}")

    assert list(missing(main, "fmnist")) == []


def test_train_on_a_missing_data_folder_leaves_no_run(tmp_path, isolated_env):
    runs = tmp_path / "runs"
    result = invoke("train", "--model", "mlp", "--runs-dir", runs, "--data-dir", tmp_path / "no")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert str(tmp_path / "no") in result.output
    assert not runs.exists()


def test_train_into_a_path_under_a_file_is_one_line(tmp_path, training_dir):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    args = ["--model", "mlp", "--epochs", "1", "--data-dir", training_dir]
    result = invoke("train", *args, "--runs-dir", blocker / "runs")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert f"{blocker / 'runs'}" in result.output and "is a file, not a folder" in result.output


def test_a_bad_model_override_fails_before_a_run_folder_exists(tmp_path, training_dir):
    config = tmp_path / "c.toml"
    config.write_text('model = "mlp"\n[model_args]\ndepth = 3\n')
    runs = tmp_path / "runs"
    result = invoke("train", "--config", config, "--runs-dir", runs, "--data-dir", training_dir)
    assert result.exit_code == 1 and "model 'mlp': bad override" in result.output
    assert not runs.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["explore", "--out", "{blocked}/out"],
        ["convert", "{model}", "{blocked}/m.h5"],
        ["export", "{model}", "--format", "saved_model", "--out", "{blocked}/saved"],
        ["evaluate", "{run}", "--out", "{blocked}/evaluation"],
        ["predict", "--model", "{run}", "--random", "2", "--out", "{blocked}/seen"],
        ["runs", "compare", "{run}", "{run}", "--out", "{blocked}/compare.png"],
    ],
)
def test_writing_under_a_file_is_one_line_naming_the_path(
    command, tiny_run, training_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("FMNIST_DATA_DIR", str(training_dir))
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    places = {"blocked": blocked, "model": tiny_run / "model.keras", "run": tiny_run}
    result = invoke(*(part.format(**places) for part in command))
    assert result.exit_code == 1, result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and str(blocked) in error[0]
    assert "is a file, not a folder" in error[0] and "Traceback" not in result.output


def test_predict_explain_draws_a_photo_s_steps(tiny_run, tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    carpet = rng.integers(120, 230, (200, 160, 3)).astype(np.uint8)
    carpet[40:170, 55:105] = (25, 35, 90)  # a dark shirt on a noisy carpet
    carpet[40:80, 25:135] = (25, 35, 90)
    photo = tmp_path / "my shirt.jpg"
    Image.fromarray(carpet).save(photo)
    result = invoke("predict", "--model", tiny_run, photo, "--explain", "--out", tmp_path / "why")
    assert result.exit_code == 0, result.output
    figure = tmp_path / "why" / "my_shirt_explain.png"
    assert figure.read_bytes()[:4] == b"\x89PNG" and f"Explained: {figure}" in result.output
    assert Image.open(figure).width > 1000  # five panels side by side
    answer = json.loads(invoke("predict", "--model", tiny_run, photo, "--json").output)[0]
    assert answer["segmentation"] == "grabcut" and isinstance(answer["sure"], bool)
    refused = invoke("predict", "--model", tiny_run, "--index", "0", "--explain")
    assert refused.exit_code == 2 and "give image files" in refused.output


def test_predict_index_without_an_index_is_a_usage_error(tiny_run):
    result = invoke("predict", "--model", tiny_run, "--index")
    assert result.exit_code == 2 and "--index needs at least one test index" in result.output


def test_train_and_run_take_the_same_training_options():
    from fmnist.cli import main

    def options(name):
        return {o for p in main.commands[name].params for o in p.opts}

    shared = {"--model", "--epochs", "--batch-size", "--lr", "--precision", "--seed", "--config"}
    assert shared <= options("train") and shared <= options("run")
    assert options("run") - options("train") == {"--formats", "--no-photos"}
    assert options("train") - options("run") == {"--resume"}
