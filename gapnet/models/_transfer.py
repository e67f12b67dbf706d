"""Four-channel (RGBY) models from three-channel backbones, with or without pretrained weights.

Any other channel set (`channels`: a subset of the roles holding green, in `CHANNELS`
order, e.g. green + blue) is fed the same way: its red, green and blue inputs get those
pretrained kernels (pass-through weights in the adapter), yellow copies red or is zero.

Two documented ways to feed 4 channels to an RGB backbone:

- `four_channel="widen"` (seed 000; bestfitting, iafoss on Kaggle): the backbone is built
  with a 4-channel input and every pretrained weight is copied; the first convolution
  keeps its RGB kernels (in the backbone's own channel order: BGR for the caffe-style
  ResNet50) and gets a yellow kernel copied from red (`yellow_init="copy_red"`, then the
  whole kernel is scaled by 3/4 so activations keep their size) or zeros (`"zeros"`).
- `four_channel="adapter"` (seed 004): a 1x1 convolution 4 -> 3 in front of the unchanged
  pretrained backbone, initialised as an RGB pass-through (yellow weight 0), so training
  starts from exactly the pretrained network.

`weights`: None (random init), "imagenet" (downloaded by Keras when the machine is
online; never in tests), or a local file: a `.weights.h5` or `.keras` of the same
backbone built with 3 channels and `include_top=False`.
"""

from __future__ import annotations

import os
import warnings

import keras
import numpy as np
from keras import layers

from gapnet.classes import CHANNELS
from gapnet.models._blocks import sigmoid_head, stem


def _load_3ch(factory, input_shape, weights):
    """The 3-channel backbone with `weights` loaded (None, "imagenet" or a local file)."""
    shape3 = tuple(input_shape[:2]) + (3,)
    if weights in (None, "imagenet"):
        return factory(include_top=False, weights=weights, input_shape=shape3)
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise ValueError(
            f"weights file not found: {path} (expected None, 'imagenet', or a "
            "local .weights.h5 / .keras file)"
        )
    net = factory(include_top=False, weights=None, input_shape=shape3)
    if path.endswith(".keras"):
        net.set_weights(keras.saving.load_model(path, compile=False, safe_mode=True).get_weights())
    else:
        net.load_weights(path)
    return net


def widen_first_kernel(
    kernel: np.ndarray, rgb_order: str, yellow_init: str, channels=CHANNELS
) -> np.ndarray:
    """(k, k, 3, F) pretrained kernel -> (k, k, C, F) in the order of `channels` (gapnet's
    (R, G, B, Y) by default); scaled by 3 / (inputs given a kernel) so that activations
    keep their size."""
    if yellow_init not in ("copy_red", "zeros"):
        raise ValueError(f"yellow_init must be 'copy_red' or 'zeros', got {yellow_init!r}")
    slot = {c: rgb_order.index(c[0].upper()) for c in ("red", "green", "blue")}
    slot["yellow"] = slot["red"] if yellow_init == "copy_red" else None
    out = np.zeros(kernel.shape[:2] + (len(channels),) + kernel.shape[3:], kernel.dtype)
    filled = 0
    for i, c in enumerate(channels):
        if slot[c] is not None:
            out[:, :, i] = kernel[:, :, slot[c]]
            filled += 1
    return out * (3.0 / max(filled, 1))


def _widened(factory, input_shape, weights, rgb_order, yellow_init, channels):
    with warnings.catch_warnings():  # Keras warns about != 3 channels: intended here
        warnings.simplefilter("ignore", UserWarning)
        net = factory(include_top=False, weights=None, input_shape=tuple(input_shape))
    if weights is None:
        return net
    src = _load_3ch(factory, input_shape, weights)
    first = True
    for dst_layer, src_layer in zip(net.layers, src.layers, strict=True):
        w = src_layer.get_weights()
        if not w:
            continue
        if first and isinstance(dst_layer, layers.Conv2D):
            w[0] = widen_first_kernel(w[0], rgb_order, yellow_init, channels)
            first = False
        dst_layer.set_weights(w)
    return net


def _adapter(input_shape, rgb_order, channels):
    conv = layers.Conv2D(3, 1, use_bias=False, name="rgby_to_rgb")
    conv.build((None,) + tuple(input_shape[:-1]) + (len(channels),))
    k = np.zeros((1, 1, len(channels), 3), np.float32)
    for i, c in enumerate(channels):
        if c != "yellow":
            k[0, 0, i, rgb_order.index(c[0].upper())] = 1.0
    conv.set_weights([k])
    return conv


def transfer_model(
    factory,
    name,
    input_shape,
    n_classes,
    weights=None,
    four_channel="widen",
    yellow_init="copy_red",
    rgb_order="RGB",
    input_scale=1.0,
    dropout=0.0,
    preprocess=None,
    channels=None,
):
    """A backbone from `keras.applications` (or alike) with GAP and a sigmoid head.

    Args:
        factory: backbone constructor taking include_top, weights, input_shape.
        weights: None, "imagenet" or a local weights file (see module docstring).
        four_channel: "widen" or "adapter".
        yellow_init: "copy_red" or "zeros" (widen only).
        rgb_order: input channel order the pretrained kernels expect ("BGR" for caffe-style).
        input_scale: multiplies the (standardized) input to match the spread the
            pretrained weights saw (e.g. about 58 for caffe-style 0..255 inputs).
        dropout: rate before the classifier.
        channels: the roles of the input channels (default: the four, `CHANNELS`); their
            number is `input_shape[-1]`.
    """
    channels = tuple(channels or CHANNELS)
    if len(channels) != input_shape[-1]:
        raise ValueError(f"{len(channels)} channel roles {channels} for input {input_shape}")
    if four_channel not in ("widen", "adapter"):
        raise ValueError(f"four_channel must be 'widen' or 'adapter', got {four_channel!r}")
    inputs, x = stem(input_shape, preprocess)
    if input_scale != 1.0:
        x = layers.Rescaling(input_scale, name="input_scale")(x)
    if four_channel == "widen":
        backbone = _widened(factory, input_shape, weights, rgb_order, yellow_init, channels)
    else:
        x = _adapter(input_shape, rgb_order, channels)(x)
        backbone = _load_3ch(factory, input_shape, weights)
    backbone.name = "backbone"
    x = backbone(x)
    x = layers.GlobalAveragePooling2D(name="head_gap")(x)
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return keras.Model(inputs, sigmoid_head(x, n_classes), name=name)
