"""One Keras model that averages a run's fold models: image in, probabilities out."""

from __future__ import annotations

import keras

ENSEMBLE = "fold_average_model"  # the name of the model fold_average builds


def fold_average(fold_models: list) -> keras.Model:
    """A functional model whose output is the mean of `fold_models`' outputs.

    Each fold model keeps its own preprocessing (`to_float`, normalization; augmentation
    is the identity at inference), so the input is what training fed: (H, W, 4) 8-bit pixel
    values (uint8 or float 0..255) in gapnet's channel order.
    """
    if not fold_models:
        raise ValueError("no fold models to average")
    shape = tuple(fold_models[0].input_shape[1:])
    if any(tuple(m.input_shape[1:]) != shape for m in fold_models):
        raise ValueError(
            f"the fold models take different inputs: {[m.input_shape for m in fold_models]}"
        )
    image = keras.Input(shape, name="image")
    outputs = [
        keras.Model(m.inputs, m.outputs[0], name=f"fold_{k}")(image)
        for k, m in enumerate(fold_models)
    ]
    mean = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="fold_average")(outputs)
    return keras.Model(image, mean, name=ENSEMBLE)


def with_weight_normalization(model: keras.Model) -> keras.Model:
    """A copy of `model` (same weights, same outputs) whose Keras `Normalization` layers
    are `ChannelStandardization` layers, whose statistics are weights: what ONNX needs."""
    import numpy as np

    from gapnet.models.layers import ChannelStandardization

    def swap(layer):
        if isinstance(layer, keras.layers.Normalization):
            mean = np.ravel(keras.ops.convert_to_numpy(layer.mean))
            var = np.ravel(keras.ops.convert_to_numpy(layer.variance))
            return ChannelStandardization(mean, var, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    if model.name == ENSEMBLE:  # convert each fold model (they may nest a backbone)
        inner = {
            layer.name: with_weight_normalization(layer)
            for layer in model.layers
            if isinstance(layer, keras.Model)
        }
        image = keras.Input(model.input_shape[1:], name=model.inputs[0].name.split(":")[0])
        outs = [inner[name](image) for name in sorted(inner, key=lambda n: int(n.split("_")[1]))]
        out = outs[0] if len(outs) == 1 else keras.layers.Average(name="fold_average")(outs)
        return keras.Model(image, out, name=model.name)
    clone = keras.models.clone_model(model, clone_function=swap)
    for old, new in zip(model.layers, clone.layers, strict=True):
        if not isinstance(old, keras.layers.Normalization):
            new.set_weights(old.get_weights())
    return clone
