"""fmnist's own Keras layer, registered so that a saved model holding it loads in safe mode.

    >>> scaled_bias_layer().__name__
    'ScaledBias'

Only `best_cnn(bias_scale=k)` with k != 1 builds it (no recipe does by default), so every
recipe's model file is plain Keras; `fmnist.artifacts` registers the layer before any load.
"""

from __future__ import annotations

from functools import cache


@cache
def scaled_bias_layer():
    """The layer class behind `best_cnn(bias_scale=...)`, registered with Keras so that a
    saved model loads in safe mode: a per-channel bias kept divided by `scale`. Adam moves
    every variable about one learning rate a step, so this bias moves `scale` times faster
    than the other weights: airbench's higher learning rate for BatchNorm biases, which
    Keras' optimizers (one rate for all variables) can't give directly. Made on first use:
    Keras is imported lazily."""
    import keras

    @keras.saving.register_keras_serializable(package="fmnist")
    class ScaledBias(keras.layers.Layer):
        def __init__(self, scale: float = 1.0, **kwargs):
            super().__init__(**kwargs)
            self.scale = scale

        def build(self, input_shape):
            self.bias = self.add_weight(shape=(input_shape[-1],), initializer="zeros")

        def call(self, x):
            return x + keras.ops.cast(self.scale * self.bias, x.dtype)

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    return ScaledBias
