"""Loading a saved gapnet model and predicting with it (optionally with test-time
augmentation)."""

from __future__ import annotations

import keras
import numpy as np

from gapnet.data.pipeline import make_dataset


def load_model(path: str, compile: bool = True) -> keras.Model:
    """Loads a gapnet `.keras` file (safe mode), registering every gapnet class it may hold:
    `DeviceAugment`, `PerImageStandardization`, the losses, `MacroF1`, the scaled
    optimizers and `ShiftedSchedule`.

    The model takes 8-bit pixel values (uint8, or float 0..255). Files saved before gapnet
    0.3, whose models took float 0..1 and have no `to_float` layer, load too: they come back
    wrapped behind that layer (`with_pixel_input`), so they predict exactly what they did
    on the same images.
    """
    from gapnet.models import device_augment, layers  # noqa: F401  (registration)
    from gapnet.training import losses, macro_f1, optimizers  # noqa: F401

    model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    return model if takes_pixels(model) else with_pixel_input(model)


def takes_pixels(model: keras.Model) -> bool:
    """True if `model` converts 8-bit pixel values itself (it has a `to_float` layer)."""
    from gapnet.models import flat_layers
    from gapnet.models._blocks import TO_FLOAT

    return any(layer.name == TO_FLOAT for layer in flat_layers(model))


def with_pixel_input(model: keras.Model) -> keras.Model:
    """A model taking pixel values 0..255 around a pre-0.3 `model` that takes 0..1: the
    `to_float` layer, then `model` itself (same weights, shared). Compiled like `model`."""
    from gapnet.models._blocks import to_float

    image = keras.Input(model.input_shape[1:], name="image")
    x = to_float()(image)
    wrapped = keras.Model(image, model(x), name=model.name)
    if model.compiled:  # same optimizer (its state too), loss and metrics
        saved = (model.get_compile_config() or {}).get("metrics") or []
        wrapped.compile(
            optimizer=model.optimizer,
            loss=model.loss,
            metrics=[keras.saving.deserialize_keras_object(m) for m in saved] or None,
        )
    return wrapped


def predict(model: keras.Model, reader, indices, batch_size: int, tta: str = "none") -> np.ndarray:
    """Probabilities (n, C) for the samples `indices` of `reader`, in that order."""
    ds = make_dataset(reader, None, batch_size, training=False, indices=indices)
    if tta != "none":
        from gapnet.training.tta import predict as predict_tta

        return predict_tta(model, ds, tta)
    return np.asarray(model.predict(ds, verbose=0), np.float32)
