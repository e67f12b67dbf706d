"""Losses by name, for the config's `loss` key. Seed 002's default: binary cross-entropy."""

from __future__ import annotations

import keras

LOSSES = {"bce": lambda: keras.losses.BinaryCrossentropy(name="bce")}


def get(name: str):
    """The loss registered under `name`."""
    if name not in LOSSES:
        raise ValueError(f"Unknown loss {name!r}. Available: {sorted(LOSSES)}")
    return LOSSES[name]()
