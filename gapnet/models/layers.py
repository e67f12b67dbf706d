"""Custom Keras layers (serializable, `keras.ops` only)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="gapnet")
class PerImageStandardization(keras.layers.Layer):
    """Standardizes each image and channel to mean 0, std 1 (GapNet-PL's normalization)."""

    def __init__(self, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x):
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        std = ops.std(x, axis=(1, 2), keepdims=True)
        return (x - mean) / (std + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="gapnet")
class ChannelStandardization(keras.layers.Layer):
    """(x - mean) / max(sqrt(variance), eps) per channel, the arithmetic of Keras'
    `Normalization`, with mean and variance held as (non-trainable) weights: converters
    such as tf2onnx fold weights into the graph, but not the constants `Normalization`
    holds. `gapnet.export` swaps it in for ONNX."""

    def __init__(self, mean=None, variance=None, **kwargs):
        super().__init__(**kwargs)
        self.init_mean = None if mean is None else [float(v) for v in mean]
        self.init_variance = None if variance is None else [float(v) for v in variance]

    def build(self, input_shape):
        c = input_shape[-1]
        self.mean = self.add_weight(
            name="mean",
            shape=(c,),
            trainable=False,
            initializer=keras.initializers.Constant(self.init_mean or 0.0),
        )
        self.variance = self.add_weight(
            name="variance",
            shape=(c,),
            trainable=False,
            initializer=keras.initializers.Constant(self.init_variance or 1.0),
        )

    def call(self, x):
        return (x - self.mean) / ops.maximum(ops.sqrt(self.variance), keras.config.epsilon())

    def get_config(self):
        return {**super().get_config(), "mean": self.init_mean, "variance": self.init_variance}
