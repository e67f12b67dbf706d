"""Model registry: `register(name)`, `build(name, input_shape, n_classes, **kwargs)`, `list_models()`.

Every builder returns a functional `keras.Model` that maps float images in 0..1 to
28 sigmoid probabilities, and accepts `preprocess`: Keras layers applied right after the
input (device-side augmentation, normalization), so a saved model carries them.
"""

from __future__ import annotations

from typing import Callable

_MODELS: dict[str, Callable] = {}
_KINDS: dict[str, str] = {}


def register(name: str, kind: str = "keras"):
    """Decorator adding a builder `fn(input_shape, n_classes, **kwargs)` under `name`.

    `kind` is "keras" (a network) or "sklearn" (a baseline estimator, see gapnet.baselines).
    """

    def deco(fn):
        if name in _MODELS:
            raise ValueError(f"Model {name!r} already registered.")
        _MODELS[name], _KINDS[name] = fn, kind
        return fn

    return deco


def kind(name: str) -> str:
    """"keras" or "sklearn"; raises like `build` for an unknown name."""
    if name not in _KINDS:
        raise ValueError(f"Unknown model {name!r}. Available: {sorted(_MODELS)}")
    return _KINDS[name]


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


# Layers that end a convolutional body: global pooling, or flattening the last feature map.
_POOL_TYPES = ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten")


def flat_layers(model):
    """Every leaf layer of a model, looking inside nested models (e.g. a backbone)."""
    for layer in model.layers:
        if hasattr(layer, "layers"):  # nested backbone
            yield from flat_layers(layer)
        else:
            yield layer


def layer_groups(model) -> dict:
    """Layers with weights split into "early", "middle" and "head" groups.

    The head is exactly the layers after the body's final pooling (the last global
    pooling or flatten layer, in the model's topological order): the fully connected
    layers and the classifier. For GapNet's multi-level head, the pooled taps of blocks 1
    and 2 come before block 3's pooling, so the head starts after the last of them. The
    convolutional body before it is split in two halves by depth (early: the first half).
    For differential learning rates (e.g. lr/10, lr/3, lr) and for training the head alone.
    """
    flat = [layer for layer in flat_layers(model) if layer.__class__.__name__ != "InputLayer"]
    pools = [i for i, layer in enumerate(flat) if layer.__class__.__name__ in _POOL_TYPES]
    start = pools[-1] + 1 if pools else len(flat)
    body = [layer for layer in flat[:start] if layer.weights]
    head = [layer for layer in flat[start:] if layer.weights]
    half = (len(body) + 1) // 2
    return {"early": body[:half], "middle": body[half:], "head": head}


# Import every architecture so that it registers (a never-imported model never registers).
from gapnet.models import (deepyeast, densenet121, gapnet, gapnet_pl, mcnn,  # noqa: E402,F401
                           resnet34, resnet50, xception)

# Seed 000's scikit-learn baselines, beside the networks (they ignore the input shape).
from gapnet import baselines as _baselines  # noqa: E402

register("logreg", kind="sklearn")(
    lambda input_shape=None, n_classes=28, **kw: _baselines.build_logreg(**kw))
register("random_forest", kind="sklearn")(
    lambda input_shape=None, n_classes=28, **kw: _baselines.build_random_forest(**kw))
