"""ResNet50 transfer model (seeds 000/001) at 4 channels, from `keras.applications`.

Its ImageNet weights expect caffe-style input: BGR order, 0..255 minus the channel mean
(std about 58), hence rgb_order="BGR" and input_scale=58 on the standardized input.
"""

import keras

from gapnet.models import register
from gapnet.models._transfer import transfer_model


@register("resnet50")
def build_resnet50(
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
        keras.applications.ResNet50,
        "resnet50",
        input_shape,
        n_classes,
        weights,
        four_channel,
        yellow_init,
        "BGR",
        58.0,
        dropout,
        preprocess,
        channels=channels,
    )
