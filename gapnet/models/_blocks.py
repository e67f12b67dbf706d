"""Pieces shared by the architectures: the input stem and the classification output."""

from __future__ import annotations

import keras

# The first layer of every gapnet network: 8-bit pixel values (uint8, or float 0..255) to
# float32 in 0..1, on the device. Kept float32 under mixed precision, so the scaling is
# exactly that of the float32 pipeline gapnet 0.2 had.
TO_FLOAT = "to_float"


def to_float() -> keras.layers.Layer:
    """The `to_float` layer: pixel values 0..255 -> float32 0..1."""
    return keras.layers.Rescaling(1 / 255, dtype="float32", name=TO_FLOAT)


def stem(input_shape, preprocess=None):
    """The model input (pixel values 0..255), the conversion to float 0..1 (`to_float`)
    and the preprocessing layers after it (augment, normalize)."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = to_float()(inputs)
    for layer in preprocess or ():
        x = layer(x)
    return inputs, x


def sigmoid_head(x, n_classes: int):
    """28 independent sigmoid outputs, kept float32 under mixed precision."""
    return keras.layers.Dense(n_classes, activation="sigmoid", dtype="float32", name="predictions")(
        x
    )
