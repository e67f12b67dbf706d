"""Xception transfer model (seed 003) at 4 channels, from `keras.applications`.

Its ImageNet weights expect inputs in -1..1 (std about 0.5), hence input_scale=0.5.
"""

import keras

from gapnet.models import register
from gapnet.models._transfer import transfer_model


@register("xception")
def build_xception(
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
        keras.applications.Xception,
        "xception",
        input_shape,
        n_classes,
        weights,
        four_channel,
        yellow_init,
        "RGB",
        0.5,
        dropout,
        preprocess,
        channels=channels,
    )
