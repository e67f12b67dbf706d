import numpy as np
import pytest

from gapnet.config import Config
from gapnet.data.augment import AugmentRecipe, CpuAugmenter
from gapnet.models.device_augment import device_augment

GEOMETRY_ONLY = dict(contrast=0.0, brightness=0.0, noise=0.0, blur=0.0)
EVERYTHING = dict(hflip=1.0, vflip=1.0, rot90=1.0, affine=1.0, crop=1.0, blur=1.0,
                  contrast=1.0, brightness=1.0, noise=1.0)
NOTHING = {k: 0.0 for k in EVERYTHING}


def R(**kw):
    return AugmentRecipe(**kw)


def pattern(size=64):
    """An asymmetric pattern, identical in all four channels."""
    rng = np.random.default_rng(0)
    img = np.zeros((size, size), np.uint8)
    img[8:20, 10:40] = 200
    img[30:50, 45:55] = 120
    img += rng.integers(0, 30, img.shape, dtype=np.uint8)
    return np.repeat(img[..., None], 4, -1)


def test_cpu_geometry_keeps_channels_aligned():
    aug = CpuAugmenter(R(**{**EVERYTHING, **GEOMETRY_ONLY}))
    for seed in range(10):
        out = aug(pattern(), seed)
        assert out.shape == (64, 64, 4) and out.dtype == np.float32
        for c in range(1, 4):
            np.testing.assert_array_equal(out[..., 0], out[..., c])
        assert not np.allclose(out[..., 0], pattern()[..., 0] / 255)


def test_cpu_same_seed_same_output_and_identity_when_off():
    aug = CpuAugmenter(R(**EVERYTHING))
    np.testing.assert_array_equal(aug(pattern(), 7), aug(pattern(), 7))
    assert not np.array_equal(aug(pattern(), 7), aug(pattern(), 8))
    out = CpuAugmenter(R(**NOTHING))(pattern(), 3)
    np.testing.assert_allclose(out, pattern() / 255, atol=1e-6)


def test_cpu_intensity_range_and_per_channel_brightness():
    cfg = R(**{**NOTHING, "brightness": 1.0, "brightness_per_channel": 1.0})
    out = CpuAugmenter(cfg)(pattern(), 1)
    ratios = out[8:20, 10:40].mean((0, 1)) / (pattern()[8:20, 10:40].mean((0, 1)) / 255)
    assert np.all((ratios > 0.79) & (ratios < 1.21)) and np.ptp(ratios) > 0
    full = CpuAugmenter(R(**EVERYTHING))(pattern(), 5)
    assert full.min() >= 0 and full.max() <= 1


def test_device_layer_aligned_identity_at_inference_and_when_off():
    import keras

    x = (pattern()[None].repeat(8, 0) / 255).astype("float32")
    layer = device_augment(R(**{**EVERYTHING, **GEOMETRY_ONLY}), seed=1)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    assert out.shape == x.shape
    for c in range(1, 4):
        np.testing.assert_allclose(out[..., 0], out[..., c], atol=1e-6)
    assert not np.allclose(out, x, atol=1e-3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    off = device_augment(R(**NOTHING), seed=1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(off(x, training=True)), x, atol=1e-5)


@pytest.mark.parametrize("field", ["hflip", "vflip", "rot90"])
def test_device_flips_and_rotations_are_exact(field):
    import keras

    x = (pattern()[None].repeat(16, 0) / 255).astype("float32")
    layer = device_augment(R(**{**NOTHING, field: 1.0}), seed=2)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    ref = x[0, ..., 0]
    candidates = [np.rot90(ref, k) for k in range(4)] + [ref[::-1], ref[:, ::-1]]
    for o in out:
        assert any(np.allclose(o[..., 0], c, atol=1e-5) for c in candidates)


def test_recipe_is_read_from_the_config_keys():
    cfg = Config.from_dict({"aug_hflip": 0.25, "aug_scale": [0.8, 1.3], "aug_noise_std": 0.07})
    r = AugmentRecipe.from_config(cfg)
    assert (r.hflip, r.scale, r.noise_std, r.vflip) == (0.25, (0.8, 1.3), 0.07, cfg.aug_vflip)


def test_device_layer_round_trips_a_non_default_recipe_through_a_keras_file(tmp_path):
    import keras

    recipe = AugmentRecipe(hflip=0.1, rot90=0.9, affine=0.0, scale=(0.7, 1.4), rotate=3.0,
                           noise=0.0, blur_sigma=0.3)
    assert recipe != AugmentRecipe()
    inp = keras.Input((32, 32, 4))
    model = keras.Model(inp, device_augment(recipe, seed=0)(inp))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.get_layer("augment").aug == recipe
    x = (pattern(32)[None].repeat(4, 0) / 255).astype("float32")
    out = keras.ops.convert_to_numpy(again.get_layer("augment")(x, training=True))
    assert out.shape == x.shape and not np.allclose(out, x, atol=1e-3)
