"""Model registry: `register`, `build(name, input_shape, n_classes, **kwargs)`, `spec`,
`list_models()`; one module per architecture.

A network's builder returns a functional `keras.Model` that maps images of 8-bit pixel
values (uint8, or float in 0..255) to 28 sigmoid probabilities. Its first layer, `to_float`,
scales them to float32 0..1 on the device; `preprocess` (Keras layers: device-side
augmentation, normalization) follows it, so a saved model carries all of them. Seed 000's
scikit-learn baselines (`gapnet.models.baselines`) are registered beside the networks with
`network=False`: they are fitted once per fold instead of trained by epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its builder, and whether it is a Keras network (trained by
    epochs, saved as model.keras) or a scikit-learn baseline (fitted once, model.joblib)."""

    name: str
    build: Callable
    network: bool = True

    @property
    def fold_files(self) -> tuple[str, ...]:
        """The files a finished fold of this model holds (checksummed in done.json)."""
        return (
            ("model.keras", "history.csv", "val_predictions.csv")
            if self.network
            else ("model.joblib", "val_predictions.csv")
        )


_MODELS: dict[str, ModelSpec] = {}


def register(name: str, network: bool = True):
    """Decorator adding a builder `fn(input_shape, n_classes, **kwargs)` under `name`."""

    def deco(fn):
        if name in _MODELS:
            raise ValueError(f"Model {name!r} already registered.")
        _MODELS[name] = ModelSpec(name, fn, network)
        return fn

    return deco


def spec(name: str) -> ModelSpec:
    """The registered model `name`; raises like `build` for an unknown name."""
    if name not in _MODELS:
        raise ValueError(f"Unknown model {name!r}. Available: {sorted(_MODELS)}")
    return _MODELS[name]


def build(name: str, input_shape, n_classes: int = 28, **kwargs):
    """Builds the registered model `name` (a Keras model, or an unfitted scikit-learn
    estimator for a baseline).

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    shape = tuple(input_shape) if input_shape is not None else None
    return spec(name).build(input_shape=shape, n_classes=n_classes, **kwargs)


def list_models(networks_only: bool = False) -> list[str]:
    """Registered names, sorted; with `networks_only`, the Keras networks alone."""
    return sorted(n for n, s in _MODELS.items() if s.network or not networks_only)


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
from gapnet.models import (
    baselines,
    deepyeast,
    densenet121,
    gapnet,
    gapnet_pl,  # noqa: E402,F401
    mcnn,
    resnet34,
    resnet50,
    xception,
)
