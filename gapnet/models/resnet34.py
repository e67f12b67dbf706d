"""ResNet-34 (seed 004; not in keras.applications), built with keras.applications' conventions.

Basic blocks [3, 4, 6, 3] of widths 64-128-256-512, a 7x7/2 stem convolution and a 3x3/2
max-pool, BatchNorm after each convolution, layer names like Keras' ResNet50
(`conv2_block1_1_conv`, ...). No ImageNet weights ship with Keras: `weights="imagenet"`
raises; pass a local `.weights.h5` of this 3-channel backbone instead.
"""

import keras
from keras import layers

from gapnet.models import register
from gapnet.models._transfer import transfer_model


def _block(x, filters, stride, name):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_0_conv")(
            x
        )
        shortcut = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_0_bn")(shortcut)
    x = layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_1_conv"
    )(x)
    x = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_1_bn")(x)
    x = layers.ReLU(name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_2_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.ReLU(name=f"{name}_out")(x)


def ResNet34(include_top=False, weights=None, input_shape=(224, 224, 3), name="resnet34"):
    """The ResNet-34 backbone (no top), `keras.applications`-style signature."""
    if weights == "imagenet":
        raise ValueError(
            "No ImageNet weights for ResNet34 in keras.applications: pass a "
            "local .weights.h5 file of a 3-channel ResNet34 backbone, or None."
        )
    if include_top:
        raise ValueError("ResNet34 here is a backbone: include_top must be False")
    inputs = keras.Input(input_shape)
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = layers.BatchNormalization(epsilon=1.001e-5, name="conv1_bn")(x)
    x = layers.ReLU(name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, blocks) in enumerate(
        zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True), start=2
    ):
        for b in range(blocks):
            stride = 2 if b == 0 and stage > 2 else 1
            x = _block(x, filters, stride, f"conv{stage}_block{b + 1}")
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


@register("resnet34")
def build_resnet34(
    input_shape,
    n_classes=28,
    weights=None,
    four_channel="widen",
    yellow_init="copy_red",
    dropout=0.0,
    preprocess=None,
    channels=None,
):
    return transfer_model(
        ResNet34,
        "resnet34",
        input_shape,
        n_classes,
        weights,
        four_channel,
        yellow_init,
        "RGB",
        1.0,
        dropout,
        preprocess,
        channels=channels,
    )
