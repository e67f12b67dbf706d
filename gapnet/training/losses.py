"""Losses for multi-label sigmoid outputs, by name for the config's `loss` key.

All are `keras.losses.Loss` subclasses registered for `.keras` files, written with
`keras.ops`, and compute in float32 even under mixed precision (outputs are cast first).

- "bce": binary cross-entropy (seed 002's choice).
- "weighted_bce": BCE with a positive weight per class from the training labels,
  w_c = clip((1 - f_c) / f_c, 1, 100), f_c the class frequency (4th place on Kaggle used 10).
- "focal": `FocalLoss(gamma, alpha)` (seeds 000, 004): -alpha_t (1 - p_t)^gamma log p_t;
  equals BCE at gamma=0 and alpha=None.
- "soft_f1": `SoftF1Loss`: 1 - mean over classes of 2TP / (2TP + FP + FN), counts taken
  from probabilities over the batch (seed 002, section 5.1); on hard 0/1 predictions it
  equals 1 - macro-F1 (scikit-learn, zero_division=0).
  The batch problem: a rare class absent from a batch (no positives) scores F1 = 0 there
  whatever the model does, so the loss jumps with batch composition. `smooth > 0`
  ("soft_f1_smooth") adds `smooth` to numerator and denominator: an absent class with no
  predicted mass scores ~1 instead of 0, and its false positives are still penalized.
- Combinations: "bce+soft_f1" (any names joined by "+") sums the parts.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

EPS = 1e-7


def _prep(y_true, y_pred):
    y_pred = ops.clip(ops.cast(y_pred, "float32"), EPS, 1 - EPS)
    return ops.cast(y_true, "float32"), y_pred


@keras.saving.register_keras_serializable(package="gapnet")
class WeightedBCE(keras.losses.Loss):
    """Binary cross-entropy with per-class positive weights."""

    def __init__(self, pos_weight=None, name="weighted_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pos_weight = None if pos_weight is None else [float(w) for w in pos_weight]

    def call(self, y_true, y_pred):
        y, p = _prep(y_true, y_pred)
        w = 1.0 if self.pos_weight is None else ops.convert_to_tensor(self.pos_weight, "float32")
        return ops.mean(-(w * y * ops.log(p) + (1 - y) * ops.log(1 - p)), axis=-1)

    def get_config(self):
        return {**super().get_config(), "pos_weight": self.pos_weight}


@keras.saving.register_keras_serializable(package="gapnet")
class FocalLoss(keras.losses.Loss):
    """Focal loss for independent sigmoid outputs (Lin et al. 2017)."""

    def __init__(self, gamma=2.0, alpha=None, name="focal", **kwargs):
        super().__init__(name=name, **kwargs)
        self.gamma, self.alpha = float(gamma), None if alpha is None else float(alpha)

    def call(self, y_true, y_pred):
        y, p = _prep(y_true, y_pred)
        p_t = y * p + (1 - y) * (1 - p)
        loss = -ops.power(1 - p_t, self.gamma) * ops.log(p_t)
        if self.alpha is not None:
            loss = loss * (y * self.alpha + (1 - y) * (1 - self.alpha))
        return ops.mean(loss, axis=-1)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "alpha": self.alpha}


@keras.saving.register_keras_serializable(package="gapnet")
class SoftF1Loss(keras.losses.Loss):
    """1 - soft macro-F1 over the batch (see module docstring for `smooth`)."""

    def __init__(self, smooth=0.0, name="soft_f1", **kwargs):
        super().__init__(name=name, reduction="sum", **kwargs)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        y, p = _prep(y_true, y_pred)
        tp = ops.sum(y * p, axis=0)
        fp = ops.sum((1 - y) * p, axis=0)
        fn = ops.sum(y * (1 - p), axis=0)
        f1 = (2 * tp + self.smooth) / (2 * tp + fp + fn + self.smooth + EPS)
        return 1 - ops.mean(f1)  # a batch-level quantity: one value, not per sample

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("reduction", None)
        return {**cfg, "smooth": self.smooth}


@keras.saving.register_keras_serializable(package="gapnet")
class SumOfLosses(keras.losses.Loss):
    """The sum of several losses (e.g. BCE + soft-F1)."""

    def __init__(self, losses, name="combined", **kwargs):
        super().__init__(name=name, reduction="sum", **kwargs)
        self.losses = [keras.losses.get(x) if isinstance(x, dict) else x for x in losses]

    def call(self, y_true, y_pred):
        return sum(ops.mean(loss(y_true, y_pred)) for loss in self.losses)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("reduction", None)
        return {**cfg, "losses": [keras.saving.serialize_keras_object(x) for x in self.losses]}


def positive_weights(targets, max_weight: float = 100.0) -> np.ndarray:
    """(1 - f) / f per class from multi-hot training labels, clipped to [1, max_weight]."""
    f = np.asarray(targets, np.float64).mean(0)
    w = np.where(f > 0, (1 - f) / np.maximum(f, 1e-12), max_weight)
    return np.clip(w, 1.0, max_weight)


def _one(name: str, targets=None, gamma=2.0, alpha=None):
    if name == "bce":
        return keras.losses.BinaryCrossentropy(name="bce")
    if name == "weighted_bce":
        return WeightedBCE(None if targets is None else positive_weights(targets))
    if name == "focal":
        return FocalLoss(gamma, alpha)
    if name == "soft_f1":
        return SoftF1Loss()
    if name == "soft_f1_smooth":
        return SoftF1Loss(smooth=1.0, name="soft_f1_smooth")
    raise ValueError(f"Unknown loss {name!r}. Available: {sorted(NAMES)} (join with '+')")


NAMES = ("bce", "weighted_bce", "focal", "soft_f1", "soft_f1_smooth")


def get(name: str, targets=None, gamma: float = 2.0, alpha: float | None = None):
    """The loss `name` ("bce", "focal", ..., or "a+b"); `targets` sets weighted_bce's weights."""
    parts = [p.strip() for p in name.split("+")]
    losses = [_one(p, targets, gamma, alpha) for p in parts]
    return losses[0] if len(losses) == 1 else SumOfLosses(losses, name="_plus_".join(parts))
