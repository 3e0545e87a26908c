"""Training runs: `train(config)` makes a run folder that explains itself.

    >>> run_dir = train(resolve_config(model="cnn", epochs=2))  # doctest: +SKIP
    >>> run_dir = resume("runs/20261122-101500-cnn")  # after Ctrl-C or a kill  # doctest: +SKIP

A run folder (`fmnist.run_folder`) holds the resolved config and the versions used, the
history, the model with the best weights on validation, how training went, the training
curves, and, while it runs, its state and the last epoch's checkpoint, from which
`resume` continues.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from datetime import datetime
from pathlib import Path

import keras
import numpy as np

from fmnist.artifacts import load_model, load_model_with_metadata, save_model
from fmnist.data.dataset import Dataset, Splits, load_dataset, make_splits
from fmnist.data.photo_sets import find_photo_set
from fmnist.errors import FmnistError
from fmnist.inference.answers import answer_probabilities, forward_function
from fmnist.inference.unsure import unsure_share, unsure_threshold
from fmnist.machine import package_versions
from fmnist.photos.augment import photo_style
from fmnist.plots import save_figure, training_curves
from fmnist.run_folder import Curves, Metrics, Record, RunFolder, RunState
from fmnist.tracking.mlflow_runs import MlflowEpochs, check_store, end_tracking, require_mlflow
from fmnist.training import callbacks
from fmnist.training.airbench import fit_to_data
from fmnist.training.augment import augment
from fmnist.training.config import TrainConfig, make_config, whole_epochs
from fmnist.training.models import create_model, layer_table
from fmnist.training.optimizer import compile_model, targets, total_steps
from fmnist.training.precision import compute_precision, dtype_policy, float32_copy, precision_of


class TrainingInterrupted(FmnistError):
    exit_code = 130  # the shell's code for Ctrl-C


class TrainingDiverged(FmnistError):
    """The training loss became NaN or infinite: the run is recorded as diverged."""


class TrainingBatches(keras.utils.PyDataset):
    """Shuffled, augmented batches; the draw depends on (seed, epoch, batch) alone."""

    def __init__(self, images, targets, config: TrainConfig):
        super().__init__()
        self.images, self.targets, self.config = images, targets, config
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order = np.random.default_rng([self.config.seed, epoch]).permutation(len(self.images))

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.config.batch_size)

    def __getitem__(self, index: int):
        size = self.config.batch_size
        rows = self.order[index * size : (index + 1) * size]
        rng = np.random.default_rng([self.config.seed, self.epoch, index])
        c = self.config
        images = augment(self.images[rows], rng, shift=c.shift, flip=c.flip, erasing=c.erasing)
        if c.photo_style:
            images = photo_style(images, rng, c.photo_style)
        return images[..., np.newaxis].astype(np.float32), self.targets[rows]


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds, and deterministic TensorFlow kernels."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def run_splits(dataset: Dataset, config: TrainConfig) -> Splits:
    if config.validate_on_test:
        print(
            "warning: validating on the test set: model selection sees it, so the test "
            "accuracy is optimistic",
            file=sys.stderr,
        )
    return make_splits(dataset, config)


def create_run_dir(config: TrainConfig) -> Path:
    return RunFolder.create(config.runs_dir, config.name or config.model).path


def check_before_training(config: TrainConfig) -> None:
    """What can fail before any work fails here, before a run folder exists: the model and
    its overrides, the photos to learn, MLflow when asked (the data: when it is loaded)."""
    create_model(config.model, **config.model_args)
    if config.photos:
        find_photo_set(config.photos, config.photo_classes)
    if config.mlflow:
        require_mlflow()
        check_store()


def train(
    config: TrainConfig, dataset: Dataset | None = None, extra_callbacks=(), run_dir=None, stages=()
) -> Path:
    """Train a fresh run of `config` (in `run_dir`, made by create_run_dir by default);
    returns its run folder. `stages`: what is asked of the run after training
    (`fmnist.stages`): the run is finished only once they are done."""
    check_before_training(config)
    dataset = dataset or load_dataset(data_dir=config.data_dir)
    run = RunFolder(run_dir or create_run_dir(config))
    run.write_record(
        Record(
            config=dataclasses.asdict(config),
            versions=package_versions(),
            created=datetime.now().isoformat(timespec="seconds"),
            command=sys.argv,
        )
    )
    state = RunState(status="running", stages=list(stages))
    run.write_state(state)
    return fit_recorded(run, config, dataset, state, {}, None, extra_callbacks)


def resume(run_dir: Path | str, dataset: Dataset | None = None, extra_callbacks=()) -> Path:
    """Continue an interrupted (or failed) run from its last finished epoch."""
    run = RunFolder(run_dir)
    for path in (run.config_path, run.state_path):
        if not path.is_file():
            raise FmnistError(f"{run.path}: not a run folder (no {path.name})")
    run.remove_leftovers()
    config = make_config(run.read_config_values())
    state = run.read_state()
    if state.status == "finished":
        raise FmnistError(f"{run.path}: this run finished; nothing to resume")
    if state.trained:  # training was over; what failed came after (fmnist.stages goes on)
        return run.path
    if state.epochs_done and not state.checkpoint:
        raise FmnistError(
            f"{run.path}: its state counts {state.epochs_done} epochs but names no checkpoint "
            "to resume from; train it again"
        )
    history = {k: v[: state.epochs_done] for k, v in run.read_history().items()}
    model = load_model(run.path / state.checkpoint, compile=True) if state.epochs_done else None
    state.status, state.stage, state.error = "running", None, None
    run.write_state(state)  # fails now, not after an epoch, if the folder is read-only
    return fit_recorded(run, config, dataset, state, history, model, extra_callbacks)


def fit_recorded(run: RunFolder, *args) -> Path:
    """`fit`, with a run that stops on an error recorded as failed (or interrupted)."""
    try:
        return fit(run, *args)
    except TrainingDiverged:
        end_tracking(run.path, "FAILED")
        raise  # recorded as diverged already
    except BaseException as error:
        state = run.record_failure("train", error)
        end_tracking(run.path, "KILLED" if state.status == "interrupted" else "FAILED")
        raise


def fit(run: RunFolder, config, dataset, state: RunState, history, model, extra_callbacks):
    seed_everything(config.seed)
    dataset = dataset or load_dataset(data_dir=config.data_dir)
    splits = run_splits(dataset, config)
    batches = TrainingBatches(splits.train_x, targets(splits.train_y, config), config)
    if model is None:
        state.precision = compute_precision(config)
        with dtype_policy(state.precision):
            model = compile_model(config, len(batches))
        fit_to_data(model, splits.train_x)
    else:  # resumed: the checkpoint's layers carry the precision it trains in
        state.precision = precision_of(model)
    has_val = len(splits.val_y) > 0
    divergence = callbacks.DivergenceStop()
    stops = [callbacks.GapStop(config.gap_threshold)]
    if config.patience and has_val:
        stops.append(callbacks.ResumableEarlyStopping(config.patience, history))
    chain = [
        divergence,
        callbacks.EpochSync(batches),
        *stops,
        callbacks.RunRecorder(run, history, state, dataset.class_names, has_val),
    ]
    epochs = whole_epochs(config.epochs)
    if epochs != config.epochs:  # a fractional last epoch stops part-way
        chain.append(callbacks.StepLimit(total_steps(config, len(batches))))
    if config.tensorboard:
        chain.append(keras.callbacks.TensorBoard(log_dir=str(run.tensorboard)))
    if config.mlflow:
        chain.append(MlflowEpochs(run, dataclasses.asdict(config)))
    interactive = sys.stdout.isatty()
    chain += [] if interactive else [callbacks.EpochLine(epochs)]
    validation = (splits.val_x[..., None].astype(np.float32), targets(splits.val_y, config))
    try:
        model.fit(
            batches,
            validation_data=validation if has_val else None,
            epochs=epochs,
            shuffle=False,  # batches are shuffled by (seed, epoch); Keras' own shuffle of
            # their order draws from Python's global random state, which a resume can't restore
            initial_epoch=state.epochs_done,
            callbacks=[*chain, *extra_callbacks],
            verbose=1 if interactive else 0,
        )
    except KeyboardInterrupt:
        state.status = "interrupted"
        run.write_state(state)
        raise TrainingInterrupted(
            f"interrupted after {state.epochs_done} finished epochs; resume with: "
            f"fmnist train --resume {run.path}"
        ) from None
    if divergence.diverged:
        record_divergence(run, config, state, divergence.diverged)
    state.stopped_by = stop_reason(stops)
    finish(run, config, splits, history, state)
    return run.path


def record_divergence(run: RunFolder, config: TrainConfig, state: RunState, where: str):
    """Mark the run diverged, with where and the rate, and stop with a one-line error."""
    state.status, state.stage = "diverged", "train"
    state.error = (
        f"diverged: {where} (learning rate {config.learning_rate:g}, {config.optimizer}, "
        f"{config.schedule}); lower the learning rate 3 to 10 times or add warm-up"
    )
    run.write_state(state)
    raise TrainingDiverged(f"{run.path}: {state.error}")


def stop_reason(stops: list) -> str:
    """Which callback ended training: the gap stop, early stopping, or neither."""
    if stops[0].stopped_epoch is not None:
        return "overfitting_gap"
    if len(stops) > 1 and stops[1].stopped_epoch:  # Keras: 0 means it did not stop
        return "early_stopping"
    return "epochs"


def finish(run: RunFolder, config: TrainConfig, splits: Splits, history: dict, state: RunState):
    """Keep the best model in float32, record how training went (the metrics file: epochs,
    best epoch, what stopped it, time; the model's metrics are `evaluate_run`'s), draw the
    curves, mark the run finished."""
    model, info = load_model_with_metadata(run.model_path)
    model = float32_copy(model, config)
    unsure = unsure_metadata(model, splits, config.tta)
    # Re-saved uncompiled (the optimizer's state, twice the weights' size, only serves
    # resume, which has its own checkpoint), with how the model's answers are made.
    save_model(model, run.model_path, info.get("class_names"), {"tta": config.tta, **unsure})
    curves = Curves.model_validate(history)
    val_acc = curves.val_accuracy
    seconds, epochs = state.train_seconds, state.epochs_done
    metrics = Metrics(
        model=config.model,
        params=model.count_params(),
        layers=layer_table(model),
        tta=config.tta,
        trained_in=state.precision,
        **unsure,
        epochs_run=epochs,
        stopped_by=state.stopped_by,
        best_epoch=1 + int(np.argmax(val_acc)) if val_acc else epochs,
        wall_time_s=round(seconds, 2),
        train_images_per_s=round(
            len(splits.train_y) * min(epochs, config.epochs) / max(seconds, 1e-9), 1
        ),
        validated_on="test" if config.validate_on_test else "validation split",
    )
    run.write_metrics(metrics)
    figure = training_curves(
        curves, f"{config.model}: {run.path.name}", metrics.best_epoch, config.label_smoothing
    )
    save_figure(figure, run.curves_path)
    state.status = "running" if state.stages_left else "finished"
    if state.checkpoint:
        (run.path / state.checkpoint).unlink(missing_ok=True)
        state.checkpoint = None
    if run.checkpoints.is_dir() and not any(run.checkpoints.iterdir()):
        run.checkpoints.rmdir()
    run.write_state(state)
    return metrics


def unsure_metadata(model, splits: Splits, tta: int) -> dict:
    """The "not sure" threshold (fmnist.inference.unsure) from the validation split's answers, made
    as every answer is (`answer_probabilities`), and the share of them under it; nothing without a
    validation split."""
    if len(splits.val_y) == 0:
        return {}
    forward = forward_function(model)
    _, probabilities = answer_probabilities(forward, splits.val_x, tta)
    threshold = unsure_threshold(probabilities, splits.val_y)
    return {
        "unsure_below": round(threshold, 6),
        "unsure_validation_share": round(unsure_share(probabilities, threshold), 6),
    }


def finish_stopped(run_dir: Path | str, dataset: Dataset, stopped_by: str) -> Path:
    """Finish a run that something outside stopped between epochs (a sweep's scheduler
    ending a poor trial): its best epoch so far becomes its model, as after early stopping."""
    run = RunFolder(run_dir)
    run.remove_leftovers()
    config = make_config(run.read_config_values())
    state = run.read_state()
    history = {k: v[: state.epochs_done] for k, v in run.read_history().items()}
    state.stopped_by = stopped_by
    finish(run, config, make_splits(dataset, config), history, state)
    return run.path
