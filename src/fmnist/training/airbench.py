"""The best recipe's network, `best_cnn`: airbench's layout (KellerJordan/cifar10-airbench)
cut to Fashion-MNIST and a CPU, with the two initialisations that take it from the data
and from the identity.

    >>> import numpy as np
    >>> model = best_cnn()
    >>> fit_to_data(model, np.random.default_rng(0).integers(0, 256, (64, 28, 28)))
    >>> model.get_layer(WHITEN_LAYER).trainable     # the whitening stem: set, not learned
    False

Registered in the model zoo with its recipe (`fmnist.training.models`) like every model;
what each of its ingredients buys is measured by `bench/best_recipe.py` (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fmnist.inference.layers import scaled_bias_layer
from fmnist.training.layers import classifier, model_input

if TYPE_CHECKING:
    import numpy as np

WHITEN_LAYER = "whiten"  # the first convolution of `best_cnn`, set from the data (`fit_to_data`)


def start_as_identity(model) -> None:
    """airbench's dirac initialisation, for every convolution after the model's first (its
    stem): the first `in` filters of each become the identity, so that at the start each
    passes its input on and a deep stack trains from the first step as a shallow one
    would; the other filters keep their random start."""
    import keras
    import numpy as np

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    for conv in convs[1:]:
        kernel = conv.kernel.numpy()
        size, _, inputs, outputs = kernel.shape
        identity = min(inputs, outputs)
        kernel[:, :, :, :identity] = 0
        kernel[size // 2, size // 2, np.arange(identity), np.arange(identity)] = 1
        conv.kernel.assign(kernel)


def _batch_norm(x, bias_scale: float):
    """Batch norm; with `bias_scale` != 1 its bias learns that many times faster."""
    from keras import layers

    if bias_scale == 1:
        return layers.BatchNormalization(momentum=0.9)(x)
    x = layers.BatchNormalization(momentum=0.9, center=False)(x)
    return scaled_bias_layer()(bias_scale)(x)


def _air_block(x, filters: int, residual: bool, bias_scale: float = 1.0):
    """airbench's block: a convolution, a 2x2 max-pool, batch norm, ReLU, a second
    convolution, batch norm, ReLU (the second one around a shortcut when `residual`).
    Pooling right after the first convolution runs the second at a quarter of the
    positions: most of a block's width for a third of its cost."""
    from keras import layers

    conv = dict(padding="same", use_bias=False, kernel_initializer="he_normal")
    x = layers.Conv2D(filters, 3, **conv)(x)
    x = layers.ReLU()(_batch_norm(layers.MaxPooling2D()(x), bias_scale))
    y = _batch_norm(layers.Conv2D(filters, 3, **conv)(x), bias_scale)
    return layers.ReLU()(layers.Add()([x, y]) if residual else y)


def best_cnn(
    widths: tuple = (48, 96, 192),
    whiten: bool = True,
    dirac: bool = True,
    residual: bool = False,
    dropout: float = 0.0,
    bias_scale: float = 1.0,
):
    """The best recipe's network (docs/benchmarks.md, "What each ingredient buys"): a
    3 x 3 stem of 18 filters, three `_air_block`s (28 -> 14 -> 7 -> 3 pixels), global max
    pooling. With `whiten` the stem is fixed, not learned: set from the training images'
    3 x 3 patches (`fit_to_data`), it hands the blocks decorrelated inputs. `bias_scale`:
    how many times faster the batch norms' biases learn (`scaled_bias_layer`)."""
    from keras import layers

    pixels, x = model_input(standardize=True)
    x = layers.Conv2D(18, 3, padding="same", name=WHITEN_LAYER if whiten else "stem",
                      trainable=not whiten)(x)  # fmt: skip
    for filters in widths:
        x = _air_block(x, filters, residual, bias_scale)
    x = layers.GlobalMaxPooling2D()(x)
    x = layers.Dropout(dropout)(x) if dropout else x
    model = classifier(pixels, x, "best_cnn")
    if dirac:
        start_as_identity(model)
    return model


def fit_to_data(model, images: np.ndarray, eps: float = 5e-4, sample: int = 10_000) -> None:
    """Set what a model takes from its training images before training: the whitening
    layer (`WHITEN_LAYER`), where it has one, to the eigenvectors of the 3 x 3 patch
    covariance scaled by 1/sqrt(eigenvalue), each with its negative (airbench's whitening
    initialisation): 18 filters. A layer with fewer gets the largest-variance pairs; one
    with more keeps its random start in the rest. Models without one are left as they are."""
    import numpy as np

    names = [layer.name for layer in model.layers]
    if WHITEN_LAYER not in names:
        return
    from fmnist.data.dataset import PIXEL_MEAN, PIXEL_STD

    x = (np.asarray(images[:sample], np.float32) / 255 - PIXEL_MEAN) / PIXEL_STD
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    patches = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
    patches = patches.reshape(-1, 9).astype(np.float64)
    covariance = patches.T @ patches / len(patches)
    values, vectors = np.linalg.eigh(covariance)  # eigenvalues ascending
    filters = (vectors / np.sqrt(values + eps)).T.reshape(9, 3, 3)  # one filter per row
    layer = model.get_layer(WHITEN_LAYER)
    kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
    pairs = min(kernel.shape[-1], 18) // 2
    chosen = np.concatenate([filters[9 - pairs :], -filters[9 - pairs :]])
    kernel[:, :, 0, : 2 * pairs] = chosen.transpose(1, 2, 0)
    bias[: 2 * pairs] = 0
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
