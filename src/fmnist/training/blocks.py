"""The building blocks of the zoo's convolutional recipe models (`fast_cnn`, `lean_cnn`,
`cnn_bn`, `vgg`, `resnet`; their recipes: `fmnist.training.models`).

    >>> model = batchnorm_cnn("lean_cnn", (16, 48, 96), convs=1, head=256, dropout=0.0)
"""

from __future__ import annotations

from fmnist.training.airbench import WHITEN_LAYER, start_as_identity
from fmnist.training.layers import classifier, model_input


def conv_bn(x, filters: int):
    """A 3x3 convolution, batch norm, ReLU."""
    from keras import layers

    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    return layers.ReLU()(layers.BatchNormalization()(x))


def conv_stage(x, filters: int, convs: int = 1, first_name: str | None = None):
    """`convs` 3x3 convolutions with ReLU, a 2x2 max-pool, then batch norm.

    Built for the CPU: a convolution with its bias and ReLU is one fused oneDNN kernel
    (in bfloat16 on AMX), while batch norm is plain element-wise work, so it runs once
    per stage, in float32, on the pooled map (a quarter of the elements). Momentum 0.9:
    the running statistics catch up within ~20 steps, so the model can be evaluated
    early in training (Keras' 0.99 needs hundreds of steps).
    """
    from keras import layers

    for index in range(convs):
        name = first_name if index == 0 else None
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)(x)
    x = layers.MaxPooling2D()(x)
    return layers.BatchNormalization(momentum=0.9, dtype="float32")(x)


def dense_head(x, head: int, dropout: float):
    """Flatten, a hidden dense layer (capacity for little compute), dropout around it when
    `dropout` > 0."""
    from keras import layers

    def drop(x):
        return layers.Dropout(dropout)(x) if dropout else x

    x = layers.Flatten()(x)
    if head:
        x = layers.Dense(head, activation="relu")(drop(x))
    return drop(x)


def batchnorm_cnn(
    name: str, widths, convs: int, head: int, dropout: float, whiten=False, dirac=False
):
    """Three `conv_stage`s (28x28, 14x14, 7x7) of the given widths, then `dense_head`.
    The best recipe's two initialisations (`fmnist.training.airbench`) on request: `whiten`
    starts the first convolution from the patch-whitening filters (set from the training
    images; it keeps learning), `dirac` starts the others as the identity."""
    pixels, x = model_input(standardize=True)
    for stage, filters in enumerate(widths):
        first = WHITEN_LAYER if whiten and stage == 0 else None
        x = conv_stage(x, filters, convs, first)
    model = classifier(pixels, dense_head(x, head, dropout), name)
    if dirac:
        start_as_identity(model)
    return model


def residual_block(x, filters: int, stride: int):
    """Two 3x3 convolutions with batch norm around a shortcut (1x1 where the shape changes)."""
    from keras import layers

    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
        shortcut = layers.BatchNormalization()(shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))
