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
