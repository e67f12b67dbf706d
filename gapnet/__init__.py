"""gapnet: protein subcellular localization from HPA fluorescence microscopy (Keras 3).

The package reads in pipeline order: `gapnet.data` -> `gapnet.models` -> `gapnet.training`
-> `gapnet.cv` -> `gapnet.report`, over `gapnet.config`, `gapnet.classes`, `gapnet.metrics`
and `gapnet.thresholds`. Lightweight at import time: TensorFlow is imported only by the
subpackages that need it (each is imported on first use, e.g. `gapnet.models.build`); in a
worker process of a gapnet command (`GAPNET_QUIET_TF=1`, see `gapnet.quiet`) that first
import is made quiet.
"""

import importlib
import os

if os.environ.get("GAPNET_QUIET_TF") == "1":  # a worker of a gapnet command: quiet as it is
    from gapnet.quiet import quiet_worker

    quiet_worker()

__version__ = "0.4.0.dev0"

from gapnet.classes import CHANNELS, CLASS_NAMES, N_CLASSES  # noqa: E402,F401
from gapnet.config import Config  # noqa: E402,F401

_SUBPACKAGES = ("data", "models", "training", "cv", "report")


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"gapnet.{name}")
    raise AttributeError(f"module 'gapnet' has no attribute {name!r}")


def build(name, input_shape, n_classes=N_CLASSES, **kwargs):
    """Builds a registered model; see `gapnet.models.build`."""
    return importlib.import_module("gapnet.models").build(
        name, input_shape=input_shape, n_classes=n_classes, **kwargs
    )


def list_models():
    """Names of every registered model; see `gapnet.models.list_models`."""
    return importlib.import_module("gapnet.models").list_models()
