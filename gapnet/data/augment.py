"""Training augmentation: seed 002's recipe plus vertical flips and 90-degree rotations.

An `AugmentRecipe` (built from `Config.aug_*` by `AugmentRecipe.from_config`) drives two
interchangeable back ends that sample the same distributions:

- `CpuAugmenter` (`aug_backend="cpu"`, what the default `auto` picks without a GPU):
  OpenCV (one `warpAffine` for all the geometry, a 3x3 `sepFilter2D` blur) and NumPy for the
  intensity ones, per sample inside tf.data.
- `gapnet.models.device_augment.DeviceAugment` (`aug_backend="device"`, what `auto` picks when
  TensorFlow sees a GPU): a Keras layer applied to whole batches on the accelerator, all
  geometry fused into one `keras.ops.image.affine_transform`.

Transforms, in order, each with its own probability (`Config` key in brackets; the
recipe field is the key without `aug_`):
horizontal flip [aug_hflip], vertical flip [aug_vflip], rotation by k*90 degrees
[aug_rot90], affine scale/translate/rotate/shear [aug_affine], cropping up to aug_crop_max
of the side at each edge and resizing back [aug_crop], Gaussian blur with sigma uniform in
0..aug_blur_sigma [aug_blur]; then on the intensities (ranges in units of the full scale,
0..1): contrast x U(range) around each
channel's mean [aug_contrast], brightness x U(range), one factor for all channels or, with
probability aug_brightness_per_channel, one per channel [aug_brightness], additive Gaussian
noise of std aug_noise_std, shared by the channels or, with probability
aug_noise_per_channel, drawn per pixel and channel [aug_noise].
Every geometric transform is applied identically to all four channels; labels are never
touched. Empty space uncovered by a transform is black (background).

One recipe, the reference being seed 002's imgaug one: imgaug's `Affine` with a tuple
scale draws ONE isotropic scale, a tuple shear shears the x axis only, and
`translate_percent` is sub-pixel. Both back ends draw exactly these parameters
(`geometry_matrix` here, `DeviceAugment._matrix` on the device: the same composition of
flip, k*90 rotation, affine and sub-pixel side crops into one output->input map), apply it
with bilinear interpolation and a constant black border, blur with the same 3x3 Gaussian
(sigma uniform in 0..blur_sigma, edges reflected without repeating the edge pixel), and use
the same contrast formula. albumentations 2.0.8 (used before gapnet 0.4) differed: its
`Affine` drew independent x and y scales and sheared both axes, and it rounded translations
and crops to whole pixels.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentRecipe:
    """The augmentation recipe: probabilities and ranges (see the module docstring).

    A saved model's `DeviceAugment` layer stores this as a plain dict of these field names,
    so it does not depend on `Config`'s key names.
    """

    hflip: float = 0.5
    vflip: float = 0.5
    rot90: float = 0.5
    affine: float = 0.5
    scale: tuple = (0.9, 1.1)
    translate: float = 0.05
    rotate: float = 20.0
    shear: float = 5.0
    crop: float = 0.3
    crop_max: float = 0.1
    blur: float = 0.5
    blur_sigma: float = 0.5
    contrast: float = 0.3
    contrast_range: tuple = (0.5, 1.5)
    brightness: float = 0.3
    brightness_range: tuple = (0.8, 1.2)
    brightness_per_channel: float = 0.2
    noise: float = 0.2
    noise_std: float = 0.02
    noise_per_channel: float = 0.5

    @classmethod
    def from_config(cls, cfg) -> "AugmentRecipe":
        """The recipe of a `Config`'s `aug_*` keys."""
        return cls(**{f.name: getattr(cfg, "aug_" + f.name) for f in dataclasses.fields(cls)})

    @classmethod
    def from_dict(cls, values: dict) -> "AugmentRecipe":
        """From `to_dict()`; also reads the `aug_`-prefixed keys models saved before v0.2 hold."""
        values = {
            k.removeprefix("aug_"): tuple(v) if isinstance(v, list) else v
            for k, v in values.items()
            if k != "aug_backend"
        }  # which side, not the recipe
        return cls(**values)

    def to_dict(self) -> dict:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


# === CPU: OpenCV + NumPy ===
def geometry_matrix(rng: np.random.Generator, r: AugmentRecipe, h: int, w: int) -> np.ndarray:
    """One sample's geometry as the 2x3 output->input pixel map (cv2's WARP_INVERSE_MAP).

    The same draws and the same composition as `DeviceAugment._matrix`: flips, k*90
    rotation, then imgaug's affine (one isotropic scale, rotation, x-only shear, sub-pixel
    translation), then side crops of sub-pixel width resized back.
    """

    def u(lo=0.0, hi=1.0):
        return rng.uniform(lo, hi)

    def event(p):
        return float(u() < p)

    fx, fy = 1 - 2 * event(r.hflip), 1 - 2 * event(r.vflip)
    ang = np.floor(u(0, 4)) * event(r.rot90) * (np.pi / 2)
    aff = event(r.affine)
    rot = aff * u(-r.rotate, r.rotate) * (np.pi / 180)
    shear = aff * u(-r.shear, r.shear) * (np.pi / 180)
    scale = 1 + aff * (u(*r.scale) - 1)
    tx = aff * u(-r.translate, r.translate) * w
    ty = aff * u(-r.translate, r.translate) * h
    crop = event(r.crop)
    cl, cr, ct, cb = [crop * u(0, r.crop_max) for _ in range(4)]
    c, s = np.cos(ang), np.sin(ang)
    m = np.array([[c * fx, -s * fy, 0], [s * fx, c * fy, 0], [0, 0, 1]])
    c, s, t = np.cos(rot), np.sin(rot), np.tan(shear)
    affm = np.array(
        [[scale * c, scale * (-s + t * c), tx], [scale * s, scale * (c + t * s), ty], [0, 0, 1]]
    )
    sx, sy = 1 / (1 - cl - cr), 1 / (1 - ct - cb)
    cropm = np.array([[sx, 0, sx * (cr - cl) * w / 2], [0, sy, sy * (cb - ct) * h / 2], [0, 0, 1]])
    inv = np.linalg.inv(cropm @ affm @ m)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    centre = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]])
    return (centre @ inv @ np.linalg.inv(centre))[:2]


def blur_weight(sigma):
    """The neighbour weight of the 3x3 Gaussian (centre weight 1) both back ends use."""
    return np.exp(-1 / (2 * np.maximum(sigma, 1e-3) ** 2))


def geometric(image: np.ndarray, rng: np.random.Generator, r: AugmentRecipe) -> np.ndarray:
    """The geometric part and the blur on a uint8 (H, W, C) image; uint8 out.

    Computed in float32 (OpenCV's uint8 warp quantizes the sampling positions to 1/32 px and
    its weights), rounded once to the nearest level at the end.
    """
    import cv2

    h, w = image.shape[:2]
    mat = geometry_matrix(rng, r, h, w)
    on, sigma = rng.random() < r.blur, rng.uniform(0, r.blur_sigma)
    moved = not np.allclose(mat, [[1, 0, 0], [0, 1, 0]])
    if not (moved or on):
        return image
    out = image.astype(np.float32)
    if moved:
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        out = cv2.warpAffine(
            out, mat, (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        ).reshape(image.shape)
    if on:
        w1 = blur_weight(sigma)
        k = np.array([w1, 1, w1], np.float32) / (1 + 2 * w1)
        out = cv2.sepFilter2D(out, -1, k, k, borderType=cv2.BORDER_REFLECT_101)
        out = out.reshape(image.shape)
    return np.clip(out + np.float32(0.5), 0, 255).astype(np.uint8)


_NOISE_BANK = None
_NOISE_LOCK = threading.Lock()


def _noise_bank() -> np.ndarray:
    """4.2 M standard normals made once per process (fixed seed), read at random offsets.

    Fresh normals for a 512x512x4 image cost about 7 ms on this CPU, more than the rest
    of the recipe together; a window of the bank at a random offset costs 0.3 ms and is
    still white Gaussian noise for each sample.
    """
    global _NOISE_BANK
    with _NOISE_LOCK:
        if _NOISE_BANK is None:
            _NOISE_BANK = np.random.default_rng(2018).standard_normal(2**22 + 2**20, np.float32)
    return _NOISE_BANK


def intensity(image: np.ndarray, rng: np.random.Generator, r: AugmentRecipe) -> np.ndarray:
    """The intensity part of the recipe on a uint8 (H, W, C) image; uint8 out.

    Contrast and brightness are folded into one per-channel affine map out = a_c * image +
    b_c (one pass over the pixels), then noise, then clipping to 0..255 and rounding to the
    nearest level. The draws are those of the 0..1 recipe (noise std `noise_std` of the full
    range); rounding adds at most half a level (0.2 %), a tenth of the default noise. An
    image no intensity transform touches comes back unchanged, without a float copy.
    """
    import cv2

    c = image.shape[-1]
    a = np.ones(c, np.float32)
    b = np.zeros(c, np.float32)
    touched = False
    if rng.random() < r.contrast:
        alpha = rng.uniform(*r.contrast_range)
        mean = (
            np.asarray(cv2.mean(image)[:c], np.float32)
            if c <= 4
            else (image.reshape(-1, c).mean(0))
        )
        a *= alpha
        b += mean * (1 - alpha)  # contrast around each channel's mean
        touched = True
    if rng.random() < r.brightness:
        n = c if rng.random() < r.brightness_per_channel else 1
        gain = rng.uniform(*r.brightness_range, size=n).astype(np.float32)
        a *= gain
        b *= gain
        touched = True
    noisy = rng.random() < r.noise
    if not (touched or noisy):
        return image
    out = image.astype(np.float32)
    if touched:
        out *= a
        out += b + np.float32(0.5)  # + 0.5: the cast below then rounds to nearest
    else:
        out += np.float32(0.5)
    if noisy:
        bank = _noise_bank()
        shape = image.shape if rng.random() < r.noise_per_channel else image.shape[:2] + (1,)
        size = int(np.prod(shape))
        if size > bank.size:  # images larger than the bank: draw fresh noise
            noise = rng.standard_normal(shape, dtype=np.float32)
        else:
            start = int(rng.integers(0, bank.size - size + 1))
            noise = bank[start : start + size].reshape(shape)
        out += noise * np.float32(r.noise_std * 255)
    np.clip(out, 0.0, 255.0, out=out)
    return out.astype(np.uint8)


class CpuAugmenter:
    """Augments one uint8 (H, W, 4) sample into a uint8 one; thread-safe and seedable.

    Each call takes a seed, so a sample's augmentation does not depend on which tf.data
    thread runs it: the same seed always gives the same output.
    """

    def __init__(self, recipe: AugmentRecipe):
        self.recipe = recipe

    def __call__(self, image: np.ndarray, seed: int) -> np.ndarray:
        seed = int(seed) % (2**32)
        # One generator shared by the geometric transforms, consumed in turn; the intensity
        # part draws from an independent stream of the same seed.
        image = geometric(image, np.random.default_rng([seed, 0]), self.recipe)
        return intensity(image, np.random.default_rng([seed, 1]), self.recipe)
