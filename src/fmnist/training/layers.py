"""The first and last layers every model in the zoo shares: raw pixels in, ten class
probabilities out (the input convention: `fmnist.training.models`).

    >>> import keras
    >>> pixels, x = model_input(standardize=True)
    >>> model = classifier(pixels, keras.layers.Flatten()(x), "tiny")
    >>> model.output.shape
    (None, 10)
"""

from __future__ import annotations

from fmnist.inference.answers import INPUT_SHAPE, NUM_CLASSES


def model_input(standardize: bool = False):
    """The raw-pixel input and its scaling layer: /255, or to zero mean and unit variance."""
    import keras
    from keras import layers

    pixels = keras.Input(shape=INPUT_SHAPE, name="pixels")
    if standardize:
        # by the training set's pixel statistics, on the 0-255 scale the input arrives in
        from fmnist.data.dataset import PIXEL_MEAN, PIXEL_STD

        mean_255, std_255 = 255 * PIXEL_MEAN, 255 * PIXEL_STD
        scaled = layers.Rescaling(1 / std_255, offset=-mean_255 / std_255, name="standardize")
    else:
        scaled = layers.Rescaling(1 / 255, name="scale")
    return pixels, scaled(pixels)


def classifier(pixels, x, name: str):
    """Add the softmax classifier and wrap the graph as a named model."""
    import keras
    from keras import layers

    # float32 whatever the compute policy: a softmax in bfloat16 loses the small probabilities
    probabilities = layers.Dense(
        NUM_CLASSES, activation="softmax", dtype="float32", name="probabilities"
    )(x)
    return keras.Model(pixels, probabilities, name=name)
