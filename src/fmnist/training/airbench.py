"""The best recipe's network, `best_cnn`: airbench's layout (KellerJordan/cifar10-airbench)
cut to Fashion-MNIST and a CPU, with the two initialisations that take it from the data
and from the identity.

    >>> model = create_model("best_cnn")
    >>> fit_to_data(model, train_images)     # the whitening stem, from the training images

Registered in the model zoo with its recipe (`fmnist.training.models`) like every model;
what each of its ingredients buys is measured by `bench/best_recipe.py` (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fmnist.training.layers import classifier, model_input

if TYPE_CHECKING:
    import numpy as np

WHITEN_LAYER = "whiten"  # the first convolution of `best_cnn`, set from the data (`fit_to_data`)


def _make_dirac(conv) -> None:
    """airbench's dirac initialisation: the first `in` filters of a convolution become
    the identity, so that at the start each passes its input on and a deep stack trains
    from the first step as a shallow one would; the other filters keep their random start."""
    import numpy as np

    kernel = conv.kernel.numpy()
    size, _, inputs, outputs = kernel.shape
    identity = min(inputs, outputs)
    kernel[:, :, :, :identity] = 0
    kernel[size // 2, size // 2, np.arange(identity), np.arange(identity)] = 1
    conv.kernel.assign(kernel)


def _air_block(x, filters: int, residual: bool):
    """airbench's block: a convolution, a 2x2 max-pool, batch norm, ReLU, a second
    convolution, batch norm, ReLU (the second one around a shortcut when `residual`).
    Pooling right after the first convolution runs the second at a quarter of the
    positions: most of a block's width for a third of its cost."""
    from keras import layers

    conv = dict(padding="same", use_bias=False, kernel_initializer="he_normal")
    x = layers.Conv2D(filters, 3, **conv)(x)
    x = layers.ReLU()(layers.BatchNormalization(momentum=0.9)(layers.MaxPooling2D()(x)))
    y = layers.BatchNormalization(momentum=0.9)(layers.Conv2D(filters, 3, **conv)(x))
    return layers.ReLU()(layers.Add()([x, y]) if residual else y)


def best_cnn(
    widths: tuple = (48, 96, 192),
    whiten: bool = True,
    dirac: bool = True,
    residual: bool = False,
    dropout: float = 0.0,
):
    """The best recipe's network (docs/benchmarks.md, "What each ingredient buys"): a
    3 x 3 stem of 18 filters, three `_air_block`s (28 -> 14 -> 7 -> 3 pixels), global max
    pooling. With `whiten` the stem is fixed, not learned: set from the training images'
    3 x 3 patches (`fit_to_data`), it hands the blocks decorrelated inputs."""
    from keras import layers

    pixels, x = model_input(standardize=True)
    x = layers.Conv2D(18, 3, padding="same", name=WHITEN_LAYER if whiten else "stem",
                      trainable=not whiten)(x)  # fmt: skip
    for filters in widths:
        x = _air_block(x, filters, residual)
    x = layers.GlobalMaxPooling2D()(x)
    x = layers.Dropout(dropout)(x) if dropout else x
    model = classifier(pixels, x, "best_cnn")
    for layer in model.layers if dirac else ():
        if isinstance(layer, layers.Conv2D) and layer.trainable and layer.name != "stem":
            _make_dirac(layer)
    return model


def fit_to_data(model, images: np.ndarray, eps: float = 5e-4, sample: int = 10_000) -> None:
    """Set what a model takes from its training images before training: the whitening stem
    (`WHITEN_LAYER`), where it has one, to the eigenvectors of the 3 x 3 patch covariance
    scaled by 1/sqrt(eigenvalue), each with its negative (airbench's whitening
    initialisation). Models without one are left as they are."""
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
    values, vectors = np.linalg.eigh(covariance)
    filters = (vectors / np.sqrt(values + eps)).T.reshape(9, 3, 3)  # one filter per row
    kernel = np.concatenate([filters, -filters]).transpose(1, 2, 0)[:, :, None, :]
    layer = model.get_layer(WHITEN_LAYER)
    layer.kernel.assign(kernel.astype(np.float32))
    layer.bias.assign(np.zeros(18, np.float32))
