"""M-CNN (Godinez et al. 2017), following the JKU re-implementation (ml-jku/gapnet-pl).

Seven scales: the input max-pooled by 2^n, n = 0..6; at each scale three 5x5 ReLU
convolutions of widths 16, 16, 16, 32, 32, 32, 64 (scale 0..6), then max-pooled by
2^(6-n) to the smallest resolution; concatenated (208 channels) -> 1x1 convolution 1024 ->
2x2 max-pool -> FC 512 (optional dropout) -> 28 sigmoid outputs. Pools use "same"
padding, so any input size works (inputs divisible by 128 keep every scale exact).
"""

import keras
from keras import layers

from gapnet.models import register
from gapnet.models._blocks import sigmoid_head, stem

WIDTHS = (16, 16, 16, 32, 32, 32, 64)


@register("mcnn")
def build_mcnn(input_shape, n_classes=28, widths=WIDTHS, fc=512, dropout=0.0, preprocess=None):
    inputs, x0 = stem(input_shape, preprocess)
    n = len(widths)
    branches = []
    for s, width in enumerate(widths):
        x = x0 if s == 0 else layers.MaxPooling2D(2**s, padding="same", name=f"scale{s}_in")(x0)
        for i in range(3):
            x = layers.Conv2D(
                width, 5, padding="same", activation="relu", name=f"scale{s}_conv{i + 1}"
            )(x)
        if s < n - 1:
            x = layers.MaxPooling2D(2 ** (n - 1 - s), padding="same", name=f"scale{s}_out")(x)
        branches.append(x)
    x = layers.Concatenate(name="scales_concat")(branches)
    x = layers.Conv2D(1024, 1, activation="relu", name="merge_conv")(x)
    x = layers.MaxPooling2D(2, padding="same", name="merge_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(fc, activation="relu", name="fc1")(x)
    if dropout:
        x = layers.Dropout(dropout, name="fc1_dropout")(x)
    return keras.Model(inputs, sigmoid_head(x, n_classes), name="mcnn")
