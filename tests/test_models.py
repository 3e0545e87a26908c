"""Every registered model: builds, takes raw pixels, answers ten probabilities."""

import numpy as np
import pytest

from fmnist.errors import FmnistError
from fmnist.training.models import (
    as_model_input,
    create_model,
    describe_models,
    list_models,
    predict_probabilities,
)


@pytest.mark.parametrize("name", list_models())
def test_model_takes_raw_pixels(name):
    model = create_model(name)
    raw = np.random.default_rng(0).integers(0, 256, size=(2, 28, 28), dtype=np.uint8)
    probabilities = predict_probabilities(model, raw)
    assert probabilities.shape == (2, 10)
    assert not np.isnan(probabilities).any()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # The same pixels with a channel axis, through the model directly, agree.
    direct = np.asarray(model(raw[..., None].astype(np.float32), training=False))
    np.testing.assert_allclose(direct, probabilities, rtol=1e-4, atol=1e-6)


def test_scaling_is_inside_the_model():
    model = create_model("mlp")
    assert model.layers[1].name == "scale"
    np.testing.assert_allclose(float(model.layers[1].scale), 1 / 255)


def test_classic_architectures_match_the_tutorials():
    counts = {row["name"]: row["params"] for row in describe_models()}
    assert counts["mlp"] == 784 * 128 + 128 + 128 * 10 + 10
    assert counts["mlp2"] == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    # The Keras tutorial CNN: 320 + 18496 + 36928 + 73856 + 1290 parameters.
    assert counts["cnn"] == 130890 and counts["cnn_dropout"] == 130890


def test_unknown_model_names_the_known_ones():
    with pytest.raises(FmnistError, match="unknown model 'vit'; known models: mlp, mlp2, cnn"):
        create_model("vit")


def test_bad_override_is_one_clear_error():
    with pytest.raises(FmnistError, match="model 'mlp': bad override"):
        create_model("mlp", depth=3)
    assert create_model("mlp", units=16).count_params() == 784 * 16 + 16 + 16 * 10 + 10


@pytest.mark.parametrize("shape", [(28, 28), (28, 28, 1), (3, 28, 28), (3, 28, 28, 1)])
def test_as_model_input_accepts_both_layouts(shape):
    x = as_model_input(np.zeros(shape, np.uint8))
    assert x.shape[1:] == (28, 28, 1) and x.dtype == np.float32


def test_as_model_input_refuses_other_shapes():
    with pytest.raises(FmnistError, match=r"images shaped \(2, 32, 32\)"):
        as_model_input(np.zeros((2, 32, 32)))
