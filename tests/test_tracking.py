"""Runs tracked in MLflow: a real local store, read back with MLflow's own client."""

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import make_arrays, write_folder
from fmnist.cli import main
from fmnist.run_folder import RunFolder
from fmnist.tracking.mlflow_runs import flat_metrics, flat_params

mlflow = pytest.importorskip("mlflow", reason="MLflow is the optional [mlflow] extra")


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A local MLflow store of the test's own; the working folder holds its artifacts."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)


def test_flat_metrics_keeps_the_numbers_by_their_path():
    metrics = {
        "params": 10,
        "tta": True,
        "layers": [["dense", 10]],
        "evaluation": {"test": {"accuracy": 0.9, "loss": float("nan")}},
    }
    assert flat_metrics(metrics) == {"params": 10.0, "evaluation.test.accuracy": 0.9}
    assert flat_params({"model": "mlp", "model_args": {"width": 2}, "photos": None}) == {
        "model": "mlp",
        "model_args": '{"width": 2}',
        "photos": "None",
    }


@pytest.mark.slow
def test_a_tracked_run_is_found_in_mlflow_with_its_folders_metrics(store, tmp_path):
    data = write_folder(tmp_path / "data", make_arrays(200, 40))
    result = CliRunner().invoke(
        main, ["train", "--model", "mlp", "--epochs", "2", "--mlflow", "--data-dir", str(data)]
    )
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    run = RunFolder(run_dir)
    found = mlflow.search_runs(experiment_names=["fmnist"], output_format="list")
    assert len(found) == 1
    tracked = found[0]
    assert tracked.info.status == "FINISHED" and tracked.info.run_name == run_dir.name
    assert json.loads(run.mlflow_path.read_text())["run_id"] == tracked.info.run_id
    said = f"[mlflow] run {tracked.info.run_id} (experiment {tracked.info.experiment_id}) in "
    assert said in result.output and "mlflow ui --backend-store-uri sqlite:" in result.output
    expected = flat_metrics(run.read_metrics())
    assert "evaluation.test.accuracy" in expected
    assert {k: tracked.data.metrics[k] for k in expected} == pytest.approx(expected)
    assert tracked.data.params["model"] == "mlp" and tracked.data.params["epochs"] == "2"
    client = mlflow.tracking.MlflowClient()
    history = run.read_history()
    steps = client.get_metric_history(tracked.info.run_id, "val_accuracy")
    assert [m.step for m in steps] == [1, 2]
    assert [m.value for m in steps] == pytest.approx(history["val_accuracy"])
    logged = {a.path for a in client.list_artifacts(tracked.info.run_id)}
    assert {"config.json", "metrics.json", "history.csv", "plots"} <= logged
    # the model in MLflow's Keras flavour answers as the run's own model does
    import keras

    from fmnist.artifacts import load_model

    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype(np.float32)
    flavoured = mlflow.keras.load_model(f"runs:/{tracked.info.run_id}/model")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(flavoured(images)),
        keras.ops.convert_to_numpy(load_model(run.model_path)(images)),
        atol=1e-6,
    )


def test_without_mlflow_the_flag_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    runs = tmp_path / "runs"
    result = CliRunner().invoke(
        main, ["train", "--model", "mlp", "--mlflow", "--runs-dir", str(runs)]
    )
    assert result.exit_code == 1
    assert result.output.strip() == "Error: --mlflow needs MLflow: pip install 'fmnist[mlflow]'"
    assert not runs.exists()


@pytest.mark.slow
def test_each_trial_of_a_tracked_sweep_is_an_mlflow_run(store, tmp_path):
    pytest.importorskip("ray", reason="Ray Tune is the optional [sweep] extra")
    import subprocess

    data = write_folder(tmp_path / "data", make_arrays(200, 40))
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        'model = "mlp"\ntrials = 1\nepochs = 1\n[config]\nmlflow = true\n'
        "[space]\nseed = { grid = [0, 1] }\n"
    )
    command = [sys.executable, "-m", "fmnist", "sweep", "--config", str(spec)]
    command += ["--data-dir", str(data), "--runs-dir", str(tmp_path / "runs")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    found = mlflow.search_runs(experiment_names=["fmnist"], output_format="list")
    assert len(found) == 2 and {r.info.status for r in found} == {"FINISHED"}
    assert {r.data.params["seed"] for r in found} == {"0", "1"}
    assert all("evaluation.val.accuracy" in r.data.metrics for r in found)
