"""What a config asks of the optimizer: targets and loss, the steps of a run, the learning
rate's warm-up and cosine decay (values worked by hand), the optimizer built at once."""

import math

import numpy as np
import pytest

from fmnist.training.config import make_config
from fmnist.training.optimizer import (
    compile_model,
    learning_rate,
    one_hot,
    targets,
    total_steps,
)


def test_label_smoothing_trains_on_one_hot_targets():
    labels = np.array([3, 0])
    smoothed = make_config({"label_smoothing": 0.1})
    assert one_hot(smoothed) and targets(labels, smoothed).tolist()[0] == [0, 0, 0, 1] + [0] * 6
    plain = make_config({})
    assert not one_hot(plain) and targets(labels, plain).dtype == np.int32


def test_a_fractional_last_epoch_counts_its_share_of_steps():
    assert total_steps(make_config({"epochs": 0.7}), 422) == 295
    assert total_steps(make_config({"epochs": 7}), 422) == 2954
    assert total_steps(make_config({"epochs": 0.001}), 10) == 1  # never no step at all


def test_warm_up_then_cosine_decay_by_hand():
    config = make_config(
        {"epochs": 2, "schedule": "cosine", "learning_rate": 0.01, "warmup_epochs": 1}
    )
    rate = learning_rate(config, steps_per_epoch=100)  # 100 warm-up steps, 100 of decay
    assert float(rate(0)) == pytest.approx(0.01 / 25)  # starts at a 25th of the peak
    assert float(rate(100)) == pytest.approx(0.01)  # the peak, after the warm-up
    halfway = 0.01 * (1e-3 + (1 - 1e-3) * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert float(rate(150)) == pytest.approx(halfway, rel=1e-5)
    assert float(rate(200)) == pytest.approx(0.01 * 1e-3, rel=1e-4)  # the floor: alpha
    assert learning_rate(make_config({"learning_rate": 0.003}), 100) == 0.003  # constant


def test_the_optimizer_is_built_with_the_model():
    model = compile_model(make_config({"model": "mlp", "optimizer": "adamw"}), 10)
    assert type(model.optimizer).__name__ == "AdamW"
    # a slot pair for every trainable weight, made now rather than while the first step traces
    assert len(model.optimizer.variables) >= 2 * len(model.trainable_variables)
