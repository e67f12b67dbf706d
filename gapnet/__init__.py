"""gapnet: protein subcellular localization from HPA fluorescence microscopy (Keras 3).

Lightweight at import time: TensorFlow is imported only by the modules that need it
(`gapnet.pipeline`, `gapnet.models`, training), so data tools and metrics stay fast.
"""

__version__ = "0.1.0"

from gapnet.classes import CHANNELS, CLASS_NAMES, N_CLASSES  # noqa: E402,F401
from gapnet.config import Config  # noqa: E402,F401


def build(name, input_shape, n_classes=N_CLASSES, **kwargs):
    """Builds a registered model; see `gapnet.models.build`."""
    from gapnet import models

    return models.build(name, input_shape=input_shape, n_classes=n_classes, **kwargs)


def list_models():
    """Names of every registered model; see `gapnet.models.list_models`."""
    from gapnet import models

    return models.list_models()
