"""GapNet-PL exactly as published (Rumetshofer et al., ICLR 2019; ml-jku/gapnet-pl).

3x3 "same" convolutions with SELU and LeCun-normal initialisation, no BatchNorm: block 1
conv 32 stride 2 -> max-pool; block 2 conv 64 stride 2 then 3 x conv 64 -> max-pool;
block 3 3 x conv 128. Global average pooling of the pooled block-1, pooled block-2 and
block-3 outputs (32 + 64 + 128 = 224) -> FC 256 SELU -> AlphaDropout 0.3 -> FC 256 SELU ->
AlphaDropout 0.3 -> 28 sigmoid outputs: 630,076 parameters at 4 channels and 28 classes.
"""

from __future__ import annotations

import keras
from keras import layers

from gapnet.models import register
from gapnet.models._blocks import sigmoid_head, stem


def _conv(x, filters, stride, name):
    return layers.Conv2D(
        filters,
        3,
        strides=stride,
        padding="same",
        activation="selu",
        kernel_initializer="lecun_normal",
        name=name,
    )(x)


@register("gapnet_pl")
def build_gapnet_pl(input_shape, n_classes=28, dropout=0.3, preprocess=None, name="gapnet_pl"):
    inputs, x = stem(input_shape, preprocess)
    # === Block 1 ===
    x = _conv(x, 32, 2, "block1_conv1")
    x = layers.MaxPooling2D(2, name="block1_pool")(x)
    taps = [layers.GlobalAveragePooling2D(name="block1_gap")(x)]
    # === Block 2 ===
    x = _conv(x, 64, 2, "block2_conv1")
    for i in range(2, 5):
        x = _conv(x, 64, 1, f"block2_conv{i}")
    x = layers.MaxPooling2D(2, name="block2_pool")(x)
    taps.append(layers.GlobalAveragePooling2D(name="block2_gap")(x))
    # === Block 3 ===
    for i in range(1, 4):
        x = _conv(x, 128, 1, f"block3_conv{i}")
    taps.append(layers.GlobalAveragePooling2D(name="block3_gap")(x))
    # === Head ===
    x = layers.Concatenate(name="gap_concat")(taps)
    for i in (1, 2):
        x = layers.Dense(256, activation="selu", kernel_initializer="lecun_normal", name=f"fc{i}")(
            x
        )
        x = layers.AlphaDropout(dropout, name=f"fc{i}_dropout")(x)
    return keras.Model(inputs, sigmoid_head(x, n_classes), name=name)
