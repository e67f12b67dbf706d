"""Loading a saved gapnet model and predicting with it (optionally with test-time
augmentation)."""

from __future__ import annotations

import keras
import numpy as np

from gapnet.data.pipeline import make_dataset


def load_model(path: str, compile: bool = True) -> keras.Model:
    """Loads a gapnet `.keras` file (safe mode), registering every gapnet class it may hold:
    `DeviceAugment`, `PerImageStandardization`, the losses, `MacroF1`, the scaled
    optimizers and `ShiftedSchedule`. Files saved by gapnet before v0.2 load too."""
    from gapnet.models import device_augment, layers  # noqa: F401  (registration)
    from gapnet.training import losses, macro_f1, optimizers  # noqa: F401

    return keras.saving.load_model(path, compile=compile, safe_mode=True)


def predict(model: keras.Model, reader, indices, batch_size: int, tta: str = "none") -> np.ndarray:
    """Probabilities (n, 28) for the samples `indices` of `reader`, in that order."""
    ds = make_dataset(reader, None, batch_size, training=False, indices=indices)
    if tta != "none":
        from gapnet.training.tta import predict as predict_tta

        return predict_tta(model, ds, tta)
    return np.asarray(model.predict(ds, verbose=0), np.float32)
