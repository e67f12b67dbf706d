"""Optimizers with per-variable learning-rate multipliers (differential learning rates).

Keras 3 optimizers have one learning rate; `update_step` is called once per variable, so
scaling its `learning_rate` by a multiplier looked up by `variable.path` gives each layer
group its own rate (e.g. early x0.1, middle x0.33, head x1, as in seed 000).
"""

from __future__ import annotations

import keras


def _scaled(base):
    class Scaled(base):
        def __init__(self, lr_multipliers: dict | None = None, **kwargs):
            super().__init__(**kwargs)
            self.lr_multipliers = {str(k): float(v) for k, v in (lr_multipliers or {}).items()}

        def update_step(self, gradient, variable, learning_rate):
            # Keras variables have a path; the TF backend passes the raw tf.Variable, whose
            # name is that path plus ":0".
            path = getattr(variable, "path", None) or variable.name.split(":")[0]
            m = self.lr_multipliers.get(path, 1.0)
            if m != 1.0:
                learning_rate = learning_rate * m
            return super().update_step(gradient, variable, learning_rate)

        def get_config(self):
            return {**super().get_config(), "lr_multipliers": self.lr_multipliers}

    Scaled.__name__ = Scaled.__qualname__ = f"Scaled{base.__name__}"
    return keras.saving.register_keras_serializable(package="gapnet")(Scaled)


ScaledAdam = _scaled(keras.optimizers.Adam)
ScaledSGD = _scaled(keras.optimizers.SGD)


def group_multipliers(model, group_lr: dict) -> dict:
    """{variable path: multiplier} from {"early"|"middle"|"head": multiplier}."""
    from gapnet.models import layer_groups

    unknown = set(group_lr) - {"early", "middle", "head"}
    if unknown:
        raise ValueError(f"layer_lr keys must be early, middle, head; got {sorted(unknown)}")
    return {
        v.path: float(group_lr.get(g, 1.0))
        for g, layers in layer_groups(model).items()
        for layer in layers
        for v in layer.trainable_weights
    }


@keras.saving.register_keras_serializable(package="gapnet")
class ShiftedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule` read `offset` steps later: an optimizer created mid-run (the full stage of
    two-stage training) continues the run's one learning-rate curve instead of restarting
    its warmup and decay."""

    def __init__(self, schedule, offset: int):
        self.schedule = (
            keras.optimizers.schedules.deserialize(schedule)
            if isinstance(schedule, dict)
            else schedule
        )
        self.offset = int(offset)

    def __call__(self, step):
        return self.schedule(step + self.offset)

    def get_config(self):
        return {
            "schedule": keras.optimizers.schedules.serialize(self.schedule),
            "offset": self.offset,
        }
