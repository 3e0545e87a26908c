"""One trial of a sweep, as it runs inside a Ray worker: an ordinary fmnist training run
that reports each epoch's validation figures to Ray Tune.

    >>> tune.with_parameters(run_trial, context=context)  # doctest: +SKIP

Its run folder is named after Tune's trial id in the sweep folder, so a restored sweep finds
it and resumes it from its last finished epoch, and the sweep (`complete_trial`) finishes
the folders of trials Tune ended between epochs.
"""

from __future__ import annotations

import os
from pathlib import Path

from fmnist.run_folder import RunFolder, SweepFolder
from fmnist.sweeps.spec import parse_sweep, trial_config


def trial_dir(sweep_dir: Path, trial_id: str) -> Path:
    return SweepFolder(sweep_dir).trial_path(trial_id)


def run_trial(params: dict, context: dict) -> None:
    """One trial, inside a Ray worker: an fmnist training run reporting each epoch to Tune.
    A restored sweep resumes the trial's own run folder from its last finished epoch."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import ray
    from ray import tune

    limit_threads(context["threads"])
    from fmnist.data.dataset import load_dataset
    from fmnist.stages import TRIAL_STAGES, run_stages
    from fmnist.training.train import TrainingInterrupted

    spec = parse_sweep(context["spec"])
    trial_id = tune.get_context().get_trial_id()
    run_dir = trial_dir(context["sweep_dir"], trial_id)
    config = trial_config(spec, params, str(run_dir.parent), context["data_dir"], run_dir.name)
    callback = epoch_reporter(tune, trial_id, ray.get_runtime_context().get_node_id())
    data = load_dataset(data_dir=config.data_dir, progress=False)
    state = RunFolder(run_dir).read_state()
    if state.status == "finished":
        return
    resumable = state.status in ("running", "interrupted", "failed") and state.epochs_done
    run_dir.mkdir(parents=True, exist_ok=True)
    splits = trial_splits(context["repeat"])
    options = dict(data=data, callbacks=(callback,), splits=splits, echo=quiet)
    try:
        run_stages(run_dir if resumable else config, TRIAL_STAGES, run_dir=run_dir, **options)
    except TrainingInterrupted:
        return  # Tune ended the trial; the sweep finishes (or a restore resumes) its folder


def trial_splits(repeat: bool) -> tuple:
    """What a trial is evaluated on: validation (what the sweep ranks by), and the test set
    for repeats (their mean and spread)."""
    return ("val", "test") if repeat else ("val",)


def complete_trial(run: RunFolder, data, epochs: int, repeat: bool, node=None) -> None:
    """A trial's run folder made whole: finished as it stands where Tune ended it between
    epochs (stopped_by "asha" when that was before its last epoch), its stages done, its
    node recorded."""
    from fmnist.stages import TRIAL_STAGES, run_stages
    from fmnist.training.train import finish_stopped

    state = run.read_state()
    if not state.epochs_done:
        return  # failed before its first epoch: nothing to finish
    if not state.trained:
        finish_stopped(run.path, data, "asha" if state.epochs_done < epochs else "epochs")
    if run.read_state().stages_left:
        run_stages(run.path, TRIAL_STAGES, data=data, splits=trial_splits(repeat), echo=quiet)
    metrics = run.read_metrics()
    if node and metrics.node != node:
        metrics.node = node
        run.write_metrics(metrics)


def quiet(*args, **kwargs) -> None:
    """The sweep's driver prints its own table, not each trial's stage lines."""


def limit_threads(threads: int) -> None:
    """TensorFlow's thread pools sized to the trial's CPUs, so that concurrent trials share
    the cores instead of each taking them all."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    except RuntimeError:  # a reused worker whose TensorFlow already started
        pass


def epoch_reporter(tune, trial_id: str, node: str):
    """A Keras callback reporting each epoch's validation figures to Tune (after the run
    folder has recorded the epoch, so a trial stopped at the report loses nothing)."""
    import keras

    class ReportEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            metrics = {
                "epoch": epoch + 1,
                "val_accuracy": float(logs.get("val_accuracy", 0.0)),
                # plain cross-entropy where the loss was label-smoothed
                "val_loss": float(logs.get("val_crossentropy", logs.get("val_loss", 0.0))),
                "accuracy": float(logs.get("accuracy", 0.0)),
                "fmnist_trial": trial_id,
                "node": node,
            }
            try:
                tune.report(metrics)
            except SystemExit:  # how Tune ends a trial's thread (ASHA, or Ctrl-C on the
                # sweep): the run folder is left "interrupted" after this epoch, so a
                # restored sweep resumes it and a finished sweep finishes it as it stands
                raise KeyboardInterrupt from None

    return ReportEpoch()
