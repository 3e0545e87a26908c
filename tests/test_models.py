"""Every registered model: builds, takes raw pixels, answers ten probabilities."""

import numpy as np
import pytest

from fmnist.errors import FmnistError
from fmnist.inference.answers import as_model_input, predict_probabilities
from fmnist.training.models import create_model, describe_models, list_models


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


def test_dropout_layers_exist_only_at_a_rate_above_zero():
    """The default recipe trains without dropout, so its model has no Dropout layers; asked
    for a rate, the dense head gains one on each side of its hidden layer, with no weights."""
    kinds = lambda model: [type(layer).__name__ for layer in model.layers]  # noqa: E731
    plain, regularised = create_model("lean_cnn"), create_model("lean_cnn", dropout=0.2)
    assert "Dropout" not in kinds(plain)
    dropouts = [layer for layer in regularised.layers if type(layer).__name__ == "Dropout"]
    assert [layer.rate for layer in dropouts] == [0.2, 0.2]
    assert plain.count_params() == regularised.count_params() == 273338


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


def test_the_whitening_stem_decorrelates_the_patches_it_was_set_from():
    """best_cnn's fixed stem, set from the images (`fit_to_data`), turns their 3 x 3
    patches into uncorrelated unit-variance channels (airbench's whitening)."""
    import keras

    from fmnist.training.airbench import WHITEN_LAYER, fit_to_data

    rng = np.random.default_rng(0)
    noise = rng.random((300, 30, 30))  # smoothed: neighbouring pixels correlate strongly
    images = 255 * (noise[:, 1:-1, 1:-1] + noise[:, :-2, 1:-1] + noise[:, 1:-1, :-2]) / 3
    images = images.astype(np.uint8)
    model = create_model("best_cnn")
    stem = model.get_layer(WHITEN_LAYER)
    assert not stem.trainable
    fit_to_data(model, images)
    probe = keras.Model(model.input, stem.output)
    channels = np.asarray(probe(images[..., None].astype(np.float32)))[..., :9].reshape(-1, 9)
    moments = channels.T @ channels / len(channels)  # what the whitening makes the identity
    off_diagonal = moments - np.diag(np.diag(moments))
    assert np.abs(off_diagonal).max() < 0.01
    assert np.diag(moments).max() == pytest.approx(1, abs=0.01)
    # the other nine filters are the negatives of the first nine
    kernel = stem.kernel.numpy()
    np.testing.assert_allclose(kernel[..., 9:], -kernel[..., :9])


@pytest.mark.parametrize("filters", [16, 24])
def test_a_whitening_first_convolution_takes_the_stems_filters_it_has_room_for(filters):
    """`whiten=True` on the batch-norm CNNs: 16 filters get the 8 largest-variance pairs of
    best_cnn's stem, 24 get all 18 and keep their random start in the other 6."""
    from fmnist.training.airbench import WHITEN_LAYER, fit_to_data

    images = np.random.default_rng(1).integers(0, 256, (50, 28, 28)).astype(np.uint8)
    stem = create_model("best_cnn")
    fit_to_data(stem, images)
    whitening = stem.get_layer(
        WHITEN_LAYER
    ).kernel.numpy()  # 9 filters (variance ascending), negatives
    model = create_model("lean_cnn", widths=(filters, 48, 96), whiten=True)
    layer = model.get_layer(WHITEN_LAYER)
    assert layer.trainable and layer.kernel.shape[-1] == filters
    before = layer.kernel.numpy()
    fit_to_data(model, images)
    kernel = layer.kernel.numpy()
    pairs = min(filters, 18) // 2
    np.testing.assert_allclose(kernel[..., :pairs], whitening[..., 9 - pairs : 9], rtol=1e-6)
    np.testing.assert_allclose(
        kernel[..., pairs : 2 * pairs], whitening[..., 18 - pairs :], rtol=1e-6
    )
    np.testing.assert_array_equal(kernel[..., 18:], before[..., 18:])


def test_dirac_on_a_batch_norm_cnn_starts_all_but_its_first_convolution_as_the_identity():
    import keras

    convs = [
        layer for layer in create_model("fast_cnn", dirac=True).layers
        if isinstance(layer, keras.layers.Conv2D)
    ]  # fmt: skip
    assert convs[0].kernel.numpy()[1, 1, 0, 0] != 1
    for conv in convs[1:]:
        kernel = conv.kernel.numpy()
        n = kernel.shape[2]  # fewer inputs than outputs: the first n filters pass them on
        np.testing.assert_array_equal(kernel[1, 1, :, :n], np.eye(n))
        assert kernel[..., n:].std() > 0


def test_models_without_a_whitening_stem_are_left_alone_by_fit_to_data():
    from fmnist.training.airbench import fit_to_data

    model = create_model("best_cnn", whiten=False)
    before = [w.copy() for w in model.get_weights()]
    fit_to_data(model, np.zeros((10, 28, 28), np.uint8))
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_dirac_initialisation_starts_each_convolution_as_the_identity():
    import keras

    model = create_model("best_cnn")
    convs = [
        layer for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D) and layer.trainable
    ]  # fmt: skip
    assert len(convs) == 6
    for conv in convs:
        kernel = conv.kernel.numpy()
        inputs, outputs = kernel.shape[2:]
        n = min(inputs, outputs)
        expected = np.zeros((3, 3, inputs, n), np.float32)
        expected[1, 1, np.arange(n), np.arange(n)] = 1
        np.testing.assert_array_equal(kernel[..., :n], expected)
        if n < outputs:
            assert kernel[..., n:].std() > 0  # the rest keep their random start
    plain = create_model("best_cnn", dirac=False)
    first = next(c for c in plain.layers if isinstance(c, keras.layers.Conv2D) and c.trainable)
    assert first.kernel.numpy()[1, 1, 0, 0] != 1


def test_the_best_recipe_stays_under_a_million_parameters():
    assert create_model("best_cnn").count_params() < 1_000_000


def test_a_scaled_batch_norm_bias_learns_that_many_times_faster(tmp_path):
    """bias_scale=8: Adam's first step moves every variable by its learning rate, so the
    bias the network sees moves 8 learning rates; the model saves and loads in safe mode."""
    import keras

    from fmnist.artifacts import load_model

    model = create_model("best_cnn", widths=(8, 8, 8), bias_scale=8.0)
    biased = [layer for layer in model.layers if type(layer).__name__ == "ScaledBias"]
    assert len(biased) == 6
    rate = 1e-3
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy")
    images = np.random.default_rng(0).integers(0, 256, (16, 28, 28, 1)).astype(np.float32)
    labels = np.arange(16) % 10
    model.train_on_batch(images, labels)
    moved = np.abs(biased[-1].scale * biased[-1].bias.numpy())
    assert np.allclose(moved[moved > 0], 8 * rate, rtol=0.01)
    assert (moved > 0).mean() > 0.5
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5
    )
