"""What a config asks of the optimizer: the learning-rate schedule, the optimizer, the loss and
the metrics, compiled into a fresh model.

    >>> from fmnist.training.config import resolve_config
    >>> model = compile_model(resolve_config(model="lean_cnn"), steps_per_epoch=422)
    >>> type(model.optimizer).__name__, len(model.optimizer.variables) > 2   # built already
    ('Adam', True)
"""

from __future__ import annotations

import keras
import numpy as np

from fmnist.training.config import TrainConfig
from fmnist.training.models import create_model


def one_hot(config: TrainConfig) -> bool:
    """Whether the run trains on one-hot labels: the categorical loss, or label smoothing."""
    return config.loss == "categorical" or config.label_smoothing > 0


def targets(labels: np.ndarray, config: TrainConfig) -> np.ndarray:
    """Integer labels, or one-hot ones for the categorical loss and label smoothing."""
    if one_hot(config):
        return keras.utils.to_categorical(labels, 10).astype(np.float32)
    return labels.astype(np.int32)


def total_steps(config: TrainConfig, steps_per_epoch: int) -> int:
    """The steps of the whole run, a fractional last epoch's share included."""
    return max(1, round(config.epochs * steps_per_epoch))


def learning_rate(config: TrainConfig, steps_per_epoch: int):
    total = total_steps(config, steps_per_epoch)
    if config.schedule == "constant":
        return config.learning_rate
    warmup = int(
        0.3 * total if config.schedule == "onecycle" else config.warmup_epochs * steps_per_epoch
    )
    warmup = min(warmup, total - 1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / 25,
        decay_steps=max(total - warmup, 1),
        alpha=1e-3,
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )


def compile_model(config: TrainConfig, steps_per_epoch: int):
    model = create_model(config.model, **config.model_args)
    rate = learning_rate(config, steps_per_epoch)
    # An exponential moving average of the weights replaces them at the end of every epoch
    # (a lookahead step): each epoch is validated and kept with the averaged weights.
    ema = dict(use_ema=True, ema_momentum=config.ema, ema_overwrite_frequency=steps_per_epoch)
    ema = ema if config.ema else {}
    optimizer = {
        "adam": lambda: keras.optimizers.Adam(rate, **ema),
        "adamw": lambda: keras.optimizers.AdamW(rate, weight_decay=config.weight_decay, **ema),
        "sgd": lambda: keras.optimizers.SGD(
            rate, momentum=0.9, nesterov=True, weight_decay=config.weight_decay or None, **ema
        ),
    }[config.optimizer]()
    if one_hot(config):
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        if config.label_smoothing > 0:
            # The smoothed loss stays far above zero; the plain one is what the tables and
            # `fmnist runs compare` use, so it is recorded per epoch beside it.
            metrics.append(keras.metrics.CategoricalCrossentropy(name="crossentropy"))
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    # The optimizer's slots now, eagerly: Keras would create them while tracing the first
    # training step, where each variable costs ~17 ms (0.6 s of the fast recipe's first
    # step for its 32 Adam slots) against 0.02 s for all of them here.
    model.optimizer.build(model.trainable_variables)
    return model
