"""The callbacks of a training run, each on a tiny model: the gap stop, the divergence
stop, the step limit of a fractional epoch, and the line each epoch prints."""

import math

import keras
import numpy as np
import pytest

from fmnist.training.callbacks import DivergenceStop, EpochLine, GapStop, StepLimit, gap_exceeded


def tiny_model(learning_rate=1e-2):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile(keras.optimizers.SGD(learning_rate), "sparse_categorical_crossentropy")
    return model


def data(n=64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 2, n)


@pytest.mark.parametrize(
    "logs, threshold, expected",
    [
        ({"accuracy": 0.95, "val_accuracy": 0.90}, 0.01, True),
        ({"accuracy": 0.95, "val_accuracy": 0.945}, 0.01, False),
        ({"accuracy": 0.99, "val_accuracy": 0.50}, 0.0, False),  # 0 turns it off
        ({"accuracy": 0.99}, 0.01, False),  # no validation: nothing to compare
    ],
)
def test_the_gap_condition(logs, threshold, expected):
    assert gap_exceeded(logs, threshold) is expected


def test_the_gap_stop_ends_training_at_its_epoch():
    stop = GapStop(0.01)
    stop.set_model(tiny_model())
    stop.on_epoch_end(0, {"accuracy": 0.9, "val_accuracy": 0.895})
    assert not stop.model.stop_training and stop.stopped_epoch is None
    stop.on_epoch_end(1, {"accuracy": 0.95, "val_accuracy": 0.9})
    assert stop.model.stop_training and stop.stopped_epoch == 1


def test_a_nan_loss_stops_at_once_and_says_where():
    x, y = data()
    x[5] = np.nan  # poisons every batch it is in, and the weights after it
    model = tiny_model()
    stop = DivergenceStop()
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[stop])
    assert stop.diverged == "training loss became nan at epoch 1, step 1"
    assert model.optimizer.iterations.numpy() == 1  # no step after it


def test_the_step_limit_ends_a_fractional_epoch_part_way():
    x, y = data(80)  # 10 steps an epoch at batch 8
    model = tiny_model()
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[StepLimit(13)])
    assert int(model.optimizer.iterations.numpy()) == 13 and len(history.history["loss"]) == 2


def test_each_epoch_is_one_line():
    lines = []
    line = EpochLine(7, echo=lambda text, **kw: lines.append(text))
    line.on_epoch_begin(0)
    line.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.8, "learning_rate": 0.1})
    assert lines[0].startswith("epoch 1/7  loss 0.5000  accuracy 0.8000  ")
    assert "learning_rate" not in lines[0] and lines[0].endswith("s")
    assert math.isfinite(float(lines[0].split()[-1].rstrip("s")))
