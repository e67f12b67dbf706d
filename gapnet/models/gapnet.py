"""GapNet as in seed 002 (section 3.1): GapNet-PL's structure with BatchNorm -> Conv -> ReLU.

Three convolution blocks (defaults: 32; 64 x 4, the first strided; 128 x 3), BatchNorm
before each 2x2 max-pool; the pooled block-1, pooled block-2 and block-3 outputs each get
dropout 0.4 and global average pooling, are concatenated (224 features) and go through two
fully connected hidden layers (256, ReLU, dropout 0.4) to 28 sigmoid outputs. Defaults
give 632,652 parameters at 4 channels and 28 classes, the figure of the Keras prototype
(docs/prior-art.md); GapNet-PL instead strides block 1 by 2 (`strides=(2, 2, 1)`).
Fully convolutional up to the pooling: any input size.
"""

from __future__ import annotations

import keras
from keras import layers

from gapnet.models import register
from gapnet.models._blocks import sigmoid_head, stem


def _bn_conv_relu(x, filters, stride, name):
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", name=f"{name}_conv")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


@register("gapnet")
def build_gapnet(
    input_shape,
    n_classes=28,
    widths=(32, 64, 128),
    depths=(1, 4, 3),
    strides=(1, 2, 1),
    dense=(256, 256),
    dropout=0.4,
    preprocess=None,
    name="gapnet",
):
    """Builds GapNet.

    Args:
        input_shape: (H, W, C); any H, W.
        n_classes: number of sigmoid outputs.
        widths: filters of blocks 1-3 (seed 002 / GapNet-PL: 32, 64, 128).
        depths: convolutions per block (1, 4, 3; four in block 2 as in GapNet-PL).
        strides: stride of the first convolution of each block (seed 002: 1, 2, 1).
        dense: widths of the two hidden fully connected layers.
        dropout: rate on each tapped output and after each hidden layer (seed 002: 0.4).
        preprocess: layers applied after the input (augmentation, normalization).
    """
    inputs, x = stem(input_shape, preprocess)
    taps = []
    for b, (width, depth, stride) in enumerate(zip(widths, depths, strides, strict=True), start=1):
        for i in range(depth):
            x = _bn_conv_relu(x, width, stride if i == 0 else 1, f"block{b}_{i + 1}")
        if b < len(widths):
            x = layers.BatchNormalization(name=f"block{b}_pool_bn")(x)
            x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
        tap = layers.Dropout(dropout, name=f"block{b}_tap_dropout")(x)
        taps.append(layers.GlobalAveragePooling2D(name=f"block{b}_gap")(tap))
    x = layers.Concatenate(name="gap_concat")(taps)
    for i, units in enumerate(dense, start=1):
        x = layers.Dense(units, activation="relu", name=f"fc{i}")(x)
        x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    return keras.Model(inputs, sigmoid_head(x, n_classes), name=name)
