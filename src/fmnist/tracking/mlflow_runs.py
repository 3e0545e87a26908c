"""A run tracked in MLflow: its config as parameters, every epoch's metrics as it ends, and,
once the run is done, its final metrics, model (MLflow's Keras flavour) and report.

    >>> fmnist train --mlflow  # or `mlflow = true` in a config file  # doctest: +SKIP
    >>> MlflowEpochs(run, config)  # the callback training adds for it  # doctest: +SKIP
    >>> finish_tracking(run_dir)  # final metrics, the model, the report  # doctest: +SKIP

Where to: `MLFLOW_TRACKING_URI` (a tracking server, or any store MLflow knows), else
MLflow's own default, `sqlite:///mlflow.db` in the working folder; the experiment is
`MLFLOW_EXPERIMENT_NAME` or "fmnist". The MLflow run's id is kept in the run folder
(`RunFolder.mlflow_path`), so a resumed run goes on logging into the same MLflow run, and a sweep's
trials, trained in Ray's workers, into the store the sweep's driver chose. MLflow is
imported only when a run asks for it (the `[mlflow]` extra).
"""

from __future__ import annotations

import json
import math
import os

import keras

from fmnist.errors import FmnistError
from fmnist.run_folder import Metrics, RunFolder, Tracking

EXPERIMENT = "fmnist"  # unless MLFLOW_EXPERIMENT_NAME names another
MODEL_REQUIREMENTS = ["keras>=3", "tensorflow"]  # given, not inferred: inference imports all


def require_mlflow():
    try:
        import mlflow
    except ImportError:
        raise FmnistError("--mlflow needs MLflow: pip install 'fmnist[mlflow]'") from None
    return mlflow


def tracking_uri() -> str:
    """Where runs go: MLFLOW_TRACKING_URI, else MLflow's default, made absolute so that
    processes in other working folders (a sweep's trials) write to the same store."""
    return require_mlflow().get_tracking_uri()


def experiment_id(client) -> str:
    """The experiment runs go to (MLFLOW_EXPERIMENT_NAME or "fmnist"), made if new."""
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment else client.create_experiment(name)


STORE_CHECK_S = 15  # how long the tracking store has to answer before a run starts


def check_store() -> str:
    """The tracking store answers and takes an experiment, within STORE_CHECK_S: checked
    before the first epoch, so that a wrong or unreachable MLFLOW_TRACKING_URI is one line
    naming it and the cause, not a traceback after minutes of retries."""
    import threading

    from mlflow.tracking import MlflowClient

    uri = tracking_uri()
    outcome: dict = {}

    def attempt():
        try:
            outcome["experiment"] = experiment_id(MlflowClient(uri))
        except Exception as error:  # MLflow raises many types for a store it cannot use
            outcome["error"] = error

    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    saved = {key: os.environ.get(key) for key in quick}
    os.environ.update({k: v for k, v in quick.items() if saved[k] is None})
    try:
        worker = threading.Thread(target=attempt, daemon=True)
        worker.start()
        worker.join(STORE_CHECK_S)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
    if "error" in outcome:
        cause = " ".join(str(outcome["error"]).split())[:400] or type(outcome["error"]).__name__
        raise FmnistError(f"--mlflow: the tracking store {uri} cannot be used ({cause})")
    if "experiment" not in outcome:
        raise FmnistError(f"--mlflow: the tracking store {uri} did not answer in {STORE_CHECK_S} s")
    return uri


def prepare_store() -> str:
    """The store's URI, with its schema and the experiment made now, by one process: a
    sweep's trials then start writing at once without racing to create them."""
    from mlflow.tracking import MlflowClient

    uri = tracking_uri()
    experiment_id(MlflowClient(uri))
    return uri


def flat_metrics(metrics: Metrics | dict, prefix: str = "") -> dict[str, float]:
    """The numbers of a run's metrics, keyed by their path (`evaluation.test.accuracy`);
    lists (per-class tables, the confusion matrix) and flags stay in the artifacts."""
    if isinstance(metrics, Metrics):
        metrics = metrics.to_dict()
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_metrics(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value):
                flat[name] = float(value)
    return flat


def flat_params(config: dict) -> dict[str, str]:
    """A config as MLflow parameters: each value as text, nested ones as JSON."""
    return {
        key: json.dumps(value) if isinstance(value, dict | list) else str(value)
        for key, value in config.items()
    }


def start_tracking(run: RunFolder, config: dict) -> str:
    """The MLflow run of this run folder: created (config as parameters) on first use,
    found again through the run folder's MLflow record after a resume. Returns its id."""
    mlflow = require_mlflow()
    from mlflow.tracking import MlflowClient

    record = run.read_tracking()
    if record is not None:  # a resumed run: the same MLflow run
        MlflowClient(record.tracking_uri).update_run(record.run_id, status="RUNNING")
        return record.run_id
    client = MlflowClient(tracking_uri())
    experiment = experiment_id(client)
    tags = {"fmnist.run_folder": str(run.path.resolve()), "fmnist.model": str(config["model"])}
    mlflow_run = client.create_run(experiment, run_name=run.path.name, tags=tags)
    params = [mlflow.entities.Param(k, v) for k, v in flat_params(config).items()]
    client.log_batch(mlflow_run.info.run_id, params=params)
    run.write_tracking(
        Tracking(
            run_id=mlflow_run.info.run_id,
            tracking_uri=client.tracking_uri,
            experiment_id=experiment,
        )
    )
    return mlflow_run.info.run_id


def _client(run: RunFolder):
    from mlflow.tracking import MlflowClient

    record = run.read_tracking()
    return MlflowClient(record.tracking_uri), record.run_id


class MlflowEpochs(keras.callbacks.Callback):
    """Each finished epoch's metrics into the run's MLflow run, step = the epoch number."""

    def __init__(self, run: RunFolder, config: dict):
        super().__init__()
        self.run, self.config = run, config

    def on_train_begin(self, logs=None):
        run_id = start_tracking(self.run, self.config)
        record = self.run.read_tracking()
        print(
            f"[mlflow] run {run_id} (experiment {record.experiment_id}) in {record.tracking_uri}; "
            f"see it: mlflow ui --backend-store-uri {record.tracking_uri}",
            flush=True,
        )

    def on_epoch_end(self, epoch, logs=None):
        mlflow = require_mlflow()
        client, run_id = _client(self.run)
        values = {k: float(v) for k, v in (logs or {}).items() if math.isfinite(float(v))}
        metrics = [mlflow.entities.Metric(k, v, 0, epoch + 1) for k, v in values.items()]
        client.log_batch(run_id, metrics=metrics)


def end_tracking(run_dir, status: str) -> None:
    """Close a tracked run's MLflow run as FAILED or KILLED (nothing when untracked)."""
    run = RunFolder(run_dir)
    if run.mlflow_path.is_file():
        client, run_id = _client(run)
        client.set_terminated(run_id, status=status)


def finish_tracking(run_dir) -> str | None:
    """Log a finished run's final metrics (its metrics file's numbers), its files (config,
    metrics, history, report, figures) and its model in MLflow's Keras flavour, and close
    its MLflow run as FINISHED; None when the run is not tracked."""
    run = RunFolder(run_dir)
    if not run.mlflow_path.is_file():
        return None
    mlflow = require_mlflow()
    client, run_id = _client(run)
    final = flat_metrics(run.read_metrics())
    client.log_batch(run_id, metrics=[mlflow.entities.Metric(k, v, 0, 0) for k, v in final.items()])
    for path in (run.config_path, run.metrics_path, run.history_path, run.report_path):
        if path.is_file():
            client.log_artifact(run_id, str(path))
    if (run.path / "plots").is_dir():
        client.log_artifacts(run_id, str(run.path / "plots"), "plots")
    log_keras_model(run, run_id, client.tracking_uri)
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def log_keras_model(run: RunFolder, run_id: str, uri: str) -> None:
    """The run's model in MLflow's Keras flavour (`mlflow.keras.load_model` reads it back)."""
    require_mlflow()
    import mlflow
    import mlflow.keras
    import numpy as np
    from mlflow.models import infer_signature

    from fmnist.artifacts import load_model

    model = load_model(run.model_path)
    pixels = np.zeros((1, 28, 28, 1), np.float32)  # raw pixels, 0-255, as every model takes
    signature = infer_signature(pixels, np.asarray(model(pixels)))
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_id=run_id):  # log_model writes into the active run
        mlflow.keras.log_model(
            model, name="model", signature=signature, pip_requirements=MODEL_REQUIREMENTS
        )
