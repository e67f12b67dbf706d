"""The augmentation recipe as a Keras layer on the batch (`aug_backend="device"`).

The same transforms and distributions as `gapnet.data.augment.CpuAugmenter` (see that
module for the recipe and why it is imgaug's), applied to whole batches on the accelerator
with `keras.ops`: all geometry fused into one `keras.ops.image.affine_transform`.
A model built with it carries it; it is the identity at inference.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from gapnet.data.augment import AugmentRecipe


@keras.saving.register_keras_serializable(package="gapnet")
class DeviceAugment(keras.layers.Layer):
    """The augmentation recipe as a Keras layer on a float (B, H, W, C) batch in 0..1.

    Active only when called with training=True. Geometry (flips, k*90 rotation,
    affine, side crops) is composed into one matrix per sample and applied with a
    single bilinear `affine_transform`; blur (sigma <= 0.5) is an exact 3x3 Gaussian.
    """

    def __init__(self, recipe: dict | None = None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.recipe = AugmentRecipe.from_dict(recipe or {}).to_dict()
        self.aug = AugmentRecipe.from_dict(self.recipe)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_config(self):
        return {**super().get_config(), "recipe": self.recipe, "seed": self.seed}

    def _u(self, shape, lo=0.0, hi=1.0):
        return keras.random.uniform(shape, lo, hi, seed=self.seed_generator)

    def _event(self, b, p):
        return ops.cast(self._u((b,)) < p, "float32")

    def _matrix(self, b, h, w):
        r = self.aug
        one, zero = ops.ones((b,)), ops.zeros((b,))
        # Output->input map in centred coordinates; composed right to left.
        fx = 1 - 2 * self._event(b, r.hflip)
        fy = 1 - 2 * self._event(b, r.vflip)
        k = ops.floor(self._u((b,), 0, 4)) * self._event(b, r.rot90)
        ang = k * (math.pi / 2)
        aff = self._event(b, r.affine)
        rot = aff * self._u((b,), -r.rotate, r.rotate) * (math.pi / 180)
        shear = aff * self._u((b,), -r.shear, r.shear) * (math.pi / 180)
        scale = 1 + aff * (self._u((b,), *r.scale) - 1)
        tx = aff * self._u((b,), -r.translate, r.translate) * w
        ty = aff * self._u((b,), -r.translate, r.translate) * h
        crop = self._event(b, r.crop)
        cl, cr, ct, cb = [crop * self._u((b,), 0, r.crop_max) for _ in range(4)]
        # Forward map (input->output) A = Crop * Affine * Rot90 * Flip; we need A^-1.
        c, s = ops.cos(ang), ops.sin(ang)
        m = ops.stack(
            [
                ops.stack([c * fx, -s * fy, zero], -1),
                ops.stack([s * fx, c * fy, zero], -1),
                ops.stack([zero, zero, one], -1),
            ],
            -2,
        )
        cr_, sr_ = ops.cos(rot), ops.sin(rot)
        affm = ops.stack(
            [
                ops.stack([scale * cr_, scale * (-sr_ + ops.tan(shear) * cr_), tx], -1),
                ops.stack([scale * sr_, scale * (cr_ + ops.tan(shear) * sr_), ty], -1),
                ops.stack([zero, zero, one], -1),
            ],
            -2,
        )
        sx, sy = 1 / (1 - cl - cr), 1 / (1 - ct - cb)
        cropm = ops.stack(
            [
                ops.stack([sx, zero, sx * (cr - cl) * w / 2], -1),
                ops.stack([zero, sy, sy * (cb - ct) * h / 2], -1),
                ops.stack([zero, zero, one], -1),
            ],
            -2,
        )
        fwd = ops.matmul(cropm, ops.matmul(affm, m))
        inv = ops.inv(fwd)
        # Back to pixel coordinates: x_in = C inv C^-1 x_out, C = translate by centre.
        cx, cy = (w - 1) / 2, (h - 1) / 2
        a0, a1, a2 = inv[:, 0, 0], inv[:, 0, 1], inv[:, 0, 2]
        b0, b1, b2 = inv[:, 1, 0], inv[:, 1, 1], inv[:, 1, 2]
        return ops.stack(
            [a0, a1, a2 + cx - a0 * cx - a1 * cy, b0, b1, b2 + cy - b0 * cx - b1 * cy, zero, zero],
            -1,
        )

    def _blur(self, x, b):
        r = self.aug
        on = self._event(b, r.blur)
        sigma = ops.maximum(self._u((b,), 0, r.blur_sigma), 1e-3)
        w1 = ops.exp(-1 / (2 * sigma**2)) * on  # weight of a neighbour, 1 at the centre
        norm = 1 + 2 * w1
        # Edges reflected (without repeating the edge pixel), as OpenCV's default border.
        pad = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
        rows = (pad[:, :-2] + pad[:, 2:]) * w1[:, None, None, None] + pad[:, 1:-1]
        rows = rows / norm[:, None, None, None]
        cols = (rows[:, :, :-2] + rows[:, :, 2:]) * w1[:, None, None, None] + rows[:, :, 1:-1]
        return cols / norm[:, None, None, None]

    def call(self, x, training=None):
        if not training:
            return x
        r = self.aug
        b, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
        x = ops.cast(x, "float32")
        x = ops.image.affine_transform(
            x, self._matrix(b, h, w), interpolation="bilinear", fill_mode="constant", fill_value=0.0
        )
        x = self._blur(x, b)
        v = lambda p: self._event(b, p)[:, None, None, None]  # noqa: E731
        alpha = 1 + v(r.contrast) * (self._u((b, 1, 1, 1), *r.contrast_range) - 1)
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        x = (x - mean) * alpha + mean
        per_ch = v(r.brightness_per_channel)
        gain = per_ch * self._u((b, 1, 1, x.shape[-1]), *r.brightness_range) + (
            1 - per_ch
        ) * self._u((b, 1, 1, 1), *r.brightness_range)
        x = x * (1 + v(r.brightness) * (gain - 1))
        per_ch = v(r.noise_per_channel)
        noise = per_ch * keras.random.normal(ops.shape(x), seed=self.seed_generator) + (
            1 - per_ch
        ) * keras.random.normal(ops.shape(x[..., :1]), seed=self.seed_generator)
        x = x + v(r.noise) * r.noise_std * noise
        return ops.clip(x, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape


def device_augment(
    recipe: AugmentRecipe, seed: int | None = None, name: str = "augment"
) -> DeviceAugment:
    """`recipe` as a `DeviceAugment` Keras layer (identity at inference)."""
    return DeviceAugment(recipe=recipe.to_dict(), seed=seed, name=name)
