"""DeepYeast (Parnamaa & Parts 2017; tanelp/deepyeast) adapted to 4 channels and 28 labels.

Conv blocks 2 x 64, 2 x 128, 4 x 256 (3x3, BatchNorm, ReLU), 2x2 max-pool after each;
FC 512 -> BN -> ReLU -> dropout 0.5, twice; 28 sigmoid outputs. The original flattens its
8x8 map at a 64-px input; `pooling="avg"` (default) takes a global average instead so the
model accepts any size (seed 002 instead shrank the input to 192 px), `"flatten"` keeps it.
"""

import keras
from keras import layers

from gapnet.models import register
from gapnet.models._blocks import sigmoid_head, stem


@register("deepyeast")
def build_deepyeast(input_shape, n_classes=28, pooling="avg", dropout=0.5, preprocess=None):
    inputs, x = stem(input_shape, preprocess)
    for b, (width, depth) in enumerate(((64, 2), (128, 2), (256, 4)), start=1):
        for i in range(depth):
            x = layers.Conv2D(
                width, 3, padding="same", use_bias=False, name=f"block{b}_conv{i + 1}"
            )(x)
            x = layers.BatchNormalization(name=f"block{b}_bn{i + 1}")(x)
            x = layers.ReLU(name=f"block{b}_relu{i + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    if pooling == "flatten":
        x = layers.Flatten(name="flatten")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    for i in (1, 2):
        x = layers.Dense(512, use_bias=False, name=f"fc{i}")(x)
        x = layers.BatchNormalization(name=f"fc{i}_bn")(x)
        x = layers.ReLU(name=f"fc{i}_relu")(x)
        x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    return keras.Model(inputs, sigmoid_head(x, n_classes), name="deepyeast")
