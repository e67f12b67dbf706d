"""DenseNet-121 (growth 32, blocks 6-12-24-16) at 4 channels, from `keras.applications`.

`weights=None` is seed 002's from-scratch comparison model; with "imagenet" or a local
file it is the transfer model of seeds 003/004 (see `_transfer` for the 4-channel methods).

Difference from the comparison spec (docs/prior-art.md: the JKU `configs/densenet.json`,
torchvision-style `drop_rate=0.2`): Keras' DenseNet121 has no dropout inside its dense
layers, and this model keeps Keras' layers (and so its ImageNet weights) as they are.
`dropout` here is a rate before the classifier only (default 0). The from-scratch
comparison therefore regularizes less than the spec's network; the JKU recipe also
trained it with SGD at lr 0.1, batch 3 and gradient clipping 5, which gapnet's comparison
runs do not copy (every model there shares one recipe).
"""

import keras

from gapnet.models import register
from gapnet.models._transfer import transfer_model


@register("densenet121")
def build_densenet121(
    input_shape,
    n_classes=28,
    weights=None,
    four_channel="widen",
    yellow_init="copy_red",
    dropout=0.0,
    preprocess=None,
    channels=None,
):
    # torch-style preprocessing (ImageNet mean/std): our standardized input matches it.
    return transfer_model(
        keras.applications.DenseNet121,
        "densenet121",
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
