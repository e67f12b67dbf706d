"""Pieces shared by the architectures: the input stem and the classification output."""

from __future__ import annotations

import keras


def stem(input_shape, preprocess=None):
    """The model input and the tensor after the preprocessing layers (augment, normalize)."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for layer in preprocess or ():
        x = layer(x)
    return inputs, x


def sigmoid_head(x, n_classes: int):
    """28 independent sigmoid outputs, kept float32 under mixed precision."""
    return keras.layers.Dense(n_classes, activation="sigmoid", dtype="float32", name="predictions")(x)
