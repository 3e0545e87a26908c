"""The model zoo: a registry of builders, each with the training recipe it is meant for.

    >>> import numpy as np
    >>> model = create_model("cnn")
    >>> model.predict(np.zeros((2, 28, 28, 1), np.uint8), verbose=0).shape   # raw pixels in
    (2, 10)
    >>> "lean_cnn" in list_models() and DEFAULT_MODEL
    'lean_cnn'

Every model takes raw grayscale pixels, 0-255, shaped (N, 28, 28, 1), and answers the ten
class probabilities: the input convention of `fmnist.inference.answers`, which every
answer goes through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fmnist.errors import FmnistError
from fmnist.training.airbench import best_cnn as airbench_cnn
from fmnist.training.blocks import batchnorm_cnn, conv_bn, residual_block
from fmnist.training.layers import classifier, model_input


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable
    description: str
    recipe: dict = field(default_factory=dict)  # TrainConfig fields this model trains best with


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(description: str, **recipe) -> Callable:
    """Decorator: register `build(**overrides) -> keras.Model` under its function name."""

    def wrap(build: Callable) -> Callable:
        _REGISTRY[build.__name__] = ModelSpec(build.__name__, build, description, recipe)
        return build

    return wrap


def list_models() -> list[str]:
    return list(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise FmnistError(f"unknown model {name!r}; known models: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def create_model(name: str, **overrides):
    """A fresh, uncompiled model; `overrides` go to its builder (width, dropout, ...)."""
    spec = get_spec(name)
    try:
        return spec.build(**overrides)
    except TypeError as error:
        raise FmnistError(f"model {name!r}: bad override ({error})") from None


def layer_table(model) -> list[dict]:
    """The model's layers as rows (name, type, output shape, parameters), JSON-ready: what a
    run folder records so its report can show the architecture without loading Keras."""
    return [
        {
            "name": layer.name,
            "type": type(layer).__name__,
            "output": "x".join("?" if d is None else str(d) for d in layer.output.shape),
            "params": layer.count_params(),
        }
        for layer in model.layers
    ]


@register_model("Flatten, Dense 128 relu, Dense 10: the first tutorial model", epochs=10)
def mlp(units: int = 128):
    from keras import layers

    pixels, x = model_input()
    x = layers.Dense(units, activation="relu")(layers.Flatten()(x))
    return classifier(pixels, x, "mlp")


@register_model("Flatten, Dense 128, Dense 64, Dense 10: the two-hidden-layer MLP", epochs=10)
def mlp2(units: tuple = (128, 64)):
    from keras import layers

    pixels, x = model_input()
    x = layers.Flatten()(x)
    for width in units:
        x = layers.Dense(width, activation="relu")(x)
    return classifier(pixels, x, "mlp2")


def _tutorial_cnn(name: str, dropout: float):
    from keras import layers

    pixels, x = model_input()
    for filters, pool in ((32, True), (64, True), (64, False)):
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        if pool:
            x = layers.MaxPooling2D()(x)
            x = layers.Dropout(dropout)(x) if dropout else x
    x = layers.Dense(128, activation="relu")(layers.Flatten()(x))
    x = layers.Dropout(2 * dropout)(x) if dropout else x
    return classifier(pixels, x, name)


@register_model("Conv 32, pool, Conv 64, pool, Conv 64, Dense 128: the tutorial CNN", epochs=10)
def cnn():
    return _tutorial_cnn("cnn", dropout=0.0)


@register_model(
    "the tutorial CNN with Dropout 0.25 after each pool and 0.5 before the classifier",
    epochs=15,
)
def cnn_dropout(dropout: float = 0.25):
    return _tutorial_cnn("cnn_dropout", dropout=dropout)


# What the recipe models share: label smoothing, shift and flip augmentation, flip TTA, and
# a fixed schedule whose best epoch on validation is kept (no early stop, no gap stop).
_RECIPE = dict(label_smoothing=0.1, shift=2, flip=True, tta=1, patience=0, gap_threshold=0.0)


# The bigger models add random erasing and one-cycle AdamW.
_HEAVY_RECIPE = dict(
    _RECIPE, optimizer="adamw", weight_decay=5e-4, schedule="onecycle", erasing=0.5
)


# What `fmnist run` trains, and `fmnist train` without --model: the default recipe.
DEFAULT_MODEL = "lean_cnn"
# The fast recipe, and the recipes trained briefly on purpose with what for: the diagnosis
# judges a run of one by that aim, not by how much more it could learn.
FAST_MODEL = "fast_cnn"
BUILT_FOR_TIME = {FAST_MODEL: "the tutorial CNN's two-epoch accuracy in 0.7 of an epoch"}

# The fast and default recipes are built for time on the float32 path every CPU has: two
# thirds of a step is oneDNN's convolutions, so a recipe's speed is its multiply-adds per
# image times its epochs. Both start as the best recipe does (the first convolution from
# the patch-whitening filters, the others as the identity: `fmnist.training.airbench`),
# which buys them epochs, and train at batch 128, where the activations stay in cache. How
# each value was chosen, with its figures: docs/benchmarks.md, "Experiments behind the recipes".


# The batch-norm CNNs' recipes, as data. fast_cnn: ~1.1 M multiply-adds an image, so an
# epoch costs seconds; no augmentation, which would cost it early accuracy (so no flip TTA:
# it never saw a mirrored shoe). lean_cnn: ~4 M, 93% test in 7 epochs; 16 first-stage
# filters, not 24 (oneDNN pads channels to blocks of 16, so 24 cost what 32 do); flip only
# and no dropout (on seven epochs shifts and dropout slow the climb more than they
# regularise). cnn_bn: the default before lean_cnn (93.38% in 344 s of bfloat16 on AMX).
# vgg: two convolutions a stage, ~116 M: the strongest before best_cnn.
FAST = dict(
    epochs=0.7, batch_size=128, learning_rate=1.2e-2, schedule="cosine", warmup_epochs=0.1,
    label_smoothing=0.1, patience=0, gap_threshold=0.0,
)  # fmt: skip
DEFAULT = dict(
    _RECIPE, shift=0, epochs=7, batch_size=128, learning_rate=5e-3, schedule="cosine",
    warmup_epochs=1.0,
)  # fmt: skip
CNN_BN = dict(
    _RECIPE, epochs=25, batch_size=256, learning_rate=3e-3, schedule="cosine", warmup_epochs=0.5
)
VGG = dict(_HEAVY_RECIPE, epochs=35, batch_size=256, learning_rate=2e-3)
STARTS = "batch norm, whitening and dirac starts"


@register_model(f"narrow CNN (16, 32, 64 filters, {STARTS}), dense 64, 0.7 of an epoch", **FAST)
def fast_cnn(widths=(16, 32, 64), head=64, dropout=0.0, whiten=True, dirac=True):
    return batchnorm_cnn("fast_cnn", tuple(widths), 1, head, dropout, whiten, dirac)


@register_model(f"CNN (16, 48, 96 filters, {STARTS}), dense 256, flip: the default", **DEFAULT)
def lean_cnn(widths=(16, 48, 96), head=256, dropout=0.0, whiten=True, dirac=True):
    return batchnorm_cnn("lean_cnn", tuple(widths), 1, head, dropout, whiten, dirac)


@register_model("CNN (32, 64, 128 filters, batch norm), dense 256, shift+flip", **CNN_BN)
def cnn_bn(widths=(32, 64, 128), head=256, dropout=0.3, whiten=False, dirac=False):
    return batchnorm_cnn("cnn_bn", tuple(widths), 1, head, dropout, whiten, dirac)


@register_model("VGG-style CNN (2 convs a stage: 64, 128, 256), shift+flip+erasing", **VGG)
def vgg(widths=(64, 128, 256), head=256, dropout=0.4, whiten=False, dirac=False):
    return batchnorm_cnn("vgg", tuple(widths), 2, head, dropout, whiten, dirac)


# A small ResNet (stem at 28x28, residual stages at 14x14 and 7x7) with shift, flip and
# random erasing, label smoothing, one-cycle AdamW, flip TTA.
@register_model(
    "ResNet (32-filter stem, residual stages of 64 and 128), shift+flip+erasing, flip TTA",
    epochs=25,
    batch_size=128,
    learning_rate=3e-3,
    **_HEAVY_RECIPE,
)
def resnet(width: int = 32, dropout: float = 0.2):
    from keras import layers

    pixels, x = model_input(standardize=True)
    x = layers.MaxPooling2D()(conv_bn(x, width))
    x = residual_block(x, 2 * width, stride=1)
    x = residual_block(x, 4 * width, stride=2)
    x = layers.Dropout(dropout)(layers.GlobalAveragePooling2D()(x))
    return classifier(pixels, x, "resnet")


def describe_models() -> list[dict]:
    """Name, parameter count and description of every registered model."""
    return [
        {
            "name": s.name,
            "params": create_model(s.name).count_params(),
            "description": s.description,
        }
        for s in _REGISTRY.values()
    ]


# The best recipe; its network and what each ingredient buys: fmnist.training.airbench.
@register_model(
    "whitened CNN (3 airbench blocks: 48, 96, 192 filters), shift+flip+erasing, flip+shift "
    "TTA: the best recipe",
    **{**_HEAVY_RECIPE, "tta": 2}, epochs=40, batch_size=128, learning_rate=4e-3,
)  # fmt: skip
def best_cnn(**overrides):
    return airbench_cnn(**overrides)
