"""Model registry: `register(name)`, `build(name, input_shape, n_classes, **kwargs)`, `list_models()`.

Every builder returns a functional `keras.Model` that maps float images in 0..1 to
28 sigmoid probabilities, and accepts `preprocess`: Keras layers applied right after the
input (device-side augmentation, normalization), so a saved model carries them.
"""

from __future__ import annotations

from typing import Callable

_MODELS: dict[str, Callable] = {}


def register(name: str):
    """Decorator adding a builder `fn(input_shape, n_classes, **kwargs)` under `name`."""

    def deco(fn):
        if name in _MODELS:
            raise ValueError(f"Model {name!r} already registered.")
        _MODELS[name] = fn
        return fn

    return deco


def build(name: str, input_shape, n_classes: int = 28, **kwargs):
    """Builds the registered model `name`.

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    if name not in _MODELS:
        raise ValueError(f"Unknown model {name!r}. Available: {sorted(_MODELS)}")
    return _MODELS[name](input_shape=tuple(input_shape), n_classes=n_classes, **kwargs)


def list_models() -> list[str]:
    return sorted(_MODELS)


# Import every architecture so that it registers (a never-imported model never registers).
from gapnet.models import gapnet, gapnet_pl  # noqa: E402,F401
