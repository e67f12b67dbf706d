"""Four-channel (RGBY) models from three-channel backbones, with or without pretrained weights.

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


def widen_first_kernel(kernel: np.ndarray, rgb_order: str, yellow_init: str) -> np.ndarray:
    """(k, k, 3, F) pretrained kernel -> (k, k, 4, F) in gapnet's (R, G, B, Y) order."""
    slot = {c: rgb_order.index(c[0].upper()) for c in ("red", "green", "blue")}
    out = np.zeros(kernel.shape[:2] + (4,) + kernel.shape[3:], kernel.dtype)
    for c in ("red", "green", "blue"):
        out[:, :, CHANNELS.index(c)] = kernel[:, :, slot[c]]
    if yellow_init == "copy_red":
        out[:, :, CHANNELS.index("yellow")] = kernel[:, :, slot["red"]]
        out *= 3.0 / 4.0  # four inputs of the same size instead of three
    elif yellow_init != "zeros":
        raise ValueError(f"yellow_init must be 'copy_red' or 'zeros', got {yellow_init!r}")
    return out


def _widened(factory, input_shape, weights, rgb_order, yellow_init):
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
            w[0] = widen_first_kernel(w[0], rgb_order, yellow_init)
            first = False
        dst_layer.set_weights(w)
    return net


def _adapter(input_shape, rgb_order):
    conv = layers.Conv2D(3, 1, use_bias=False, name="rgby_to_rgb")
    conv.build((None,) + tuple(input_shape[:-1]) + (4,))
    k = np.zeros((1, 1, 4, 3), np.float32)
    for c in ("red", "green", "blue"):
        k[0, 0, CHANNELS.index(c), rgb_order.index(c[0].upper())] = 1.0
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
    """
    if four_channel not in ("widen", "adapter"):
        raise ValueError(f"four_channel must be 'widen' or 'adapter', got {four_channel!r}")
    inputs, x = stem(input_shape, preprocess)
    if input_scale != 1.0:
        x = layers.Rescaling(input_scale, name="input_scale")(x)
    if four_channel == "widen":
        backbone = _widened(factory, input_shape, weights, rgb_order, yellow_init)
    else:
        x = _adapter(input_shape, rgb_order)(x)
        backbone = _load_3ch(factory, input_shape, weights)
    backbone.name = "backbone"
    x = backbone(x)
    x = layers.GlobalAveragePooling2D(name="head_gap")(x)
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return keras.Model(inputs, sigmoid_head(x, n_classes), name=name)
