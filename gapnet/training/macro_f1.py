"""The streaming macro-F1 Keras metric watched during training (`val_macro_f1`)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="gapnet")
class MacroF1(keras.metrics.Metric):
    """Epoch-level macro-F1 at a fixed threshold: TP/FP/FN summed over all batches.

    Averaging per-batch F1 (what a plain function metric does) is wrong for rare
    classes, which are absent from most batches (seed 002, section 5.1).
    """

    def __init__(self, n_classes=28, threshold=0.5, name="macro_f1", **kwargs):
        super().__init__(name=name, **kwargs)
        self.n_classes, self.threshold = n_classes, threshold
        self.tp = self.add_variable((n_classes,), "zeros", name="tp", dtype="float32")
        self.fp = self.add_variable((n_classes,), "zeros", name="fp", dtype="float32")
        self.fn = self.add_variable((n_classes,), "zeros", name="fn", dtype="float32")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "float32")
        y_hat = ops.cast(ops.greater(ops.cast(y_pred, "float32"), self.threshold), "float32")
        self.tp.assign_add(ops.sum(y_true * y_hat, axis=0))
        self.fp.assign_add(ops.sum((1 - y_true) * y_hat, axis=0))
        self.fn.assign_add(ops.sum(y_true * (1 - y_hat), axis=0))

    def result(self):
        denom = 2 * self.tp + self.fp + self.fn
        f1 = ops.where(denom > 0, 2 * self.tp / ops.maximum(denom, 1e-12), 0.0)
        return ops.mean(f1)

    def reset_state(self):
        for v in (self.tp, self.fp, self.fn):
            v.assign(ops.zeros_like(v))

    def get_config(self):
        return {**super().get_config(), "n_classes": self.n_classes, "threshold": self.threshold}
