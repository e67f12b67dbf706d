import numpy as np
import pytest

from gapnet.augment import CpuAugmenter, device_augment
from gapnet.config import Config

GEOMETRY_ONLY = dict(aug_contrast=0.0, aug_brightness=0.0, aug_noise=0.0, aug_blur=0.0)
EVERYTHING = dict(aug_hflip=1.0, aug_vflip=1.0, aug_rot90=1.0, aug_affine=1.0, aug_crop=1.0,
                  aug_blur=1.0, aug_contrast=1.0, aug_brightness=1.0, aug_noise=1.0)
NOTHING = {k: 0.0 for k in EVERYTHING}


def pattern(size=64):
    """An asymmetric pattern, identical in all four channels."""
    rng = np.random.default_rng(0)
    img = np.zeros((size, size), np.uint8)
    img[8:20, 10:40] = 200
    img[30:50, 45:55] = 120
    img += rng.integers(0, 30, img.shape, dtype=np.uint8)
    return np.repeat(img[..., None], 4, -1)


def test_cpu_geometry_keeps_channels_aligned():
    aug = CpuAugmenter(Config(**{**EVERYTHING, **GEOMETRY_ONLY}))
    for seed in range(10):
        out = aug(pattern(), seed)
        assert out.shape == (64, 64, 4) and out.dtype == np.float32
        for c in range(1, 4):
            np.testing.assert_array_equal(out[..., 0], out[..., c])
        assert not np.allclose(out[..., 0], pattern()[..., 0] / 255)


def test_cpu_same_seed_same_output_and_identity_when_off():
    aug = CpuAugmenter(Config(**EVERYTHING))
    np.testing.assert_array_equal(aug(pattern(), 7), aug(pattern(), 7))
    assert not np.array_equal(aug(pattern(), 7), aug(pattern(), 8))
    out = CpuAugmenter(Config(**NOTHING))(pattern(), 3)
    np.testing.assert_allclose(out, pattern() / 255, atol=1e-6)


def test_cpu_intensity_range_and_per_channel_brightness():
    cfg = Config(**{**NOTHING, "aug_brightness": 1.0, "aug_brightness_per_channel": 1.0})
    out = CpuAugmenter(cfg)(pattern(), 1)
    ratios = out[8:20, 10:40].mean((0, 1)) / (pattern()[8:20, 10:40].mean((0, 1)) / 255)
    assert np.all((ratios > 0.79) & (ratios < 1.21)) and np.ptp(ratios) > 0
    full = CpuAugmenter(Config(**EVERYTHING))(pattern(), 5)
    assert full.min() >= 0 and full.max() <= 1


def test_device_layer_aligned_identity_at_inference_and_when_off():
    import keras

    x = (pattern()[None].repeat(8, 0) / 255).astype("float32")
    layer = device_augment(Config(**{**EVERYTHING, **GEOMETRY_ONLY}), seed=1)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    assert out.shape == x.shape
    for c in range(1, 4):
        np.testing.assert_allclose(out[..., 0], out[..., c], atol=1e-6)
    assert not np.allclose(out, x, atol=1e-3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    off = device_augment(Config(**NOTHING), seed=1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(off(x, training=True)), x, atol=1e-5)


@pytest.mark.parametrize("field", ["aug_hflip", "aug_vflip", "aug_rot90"])
def test_device_flips_and_rotations_are_exact(field):
    import keras

    x = (pattern()[None].repeat(16, 0) / 255).astype("float32")
    layer = device_augment(Config(**{**NOTHING, field: 1.0}), seed=2)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    ref = x[0, ..., 0]
    candidates = [np.rot90(ref, k) for k in range(4)] + [ref[::-1], ref[:, ::-1]]
    for o in out:
        assert any(np.allclose(o[..., 0], c, atol=1e-5) for c in candidates)


def test_device_layer_round_trips_through_keras_file(tmp_path):
    import keras

    inp = keras.Input((32, 32, 4))
    model = keras.Model(inp, device_augment(Config(), seed=0)(inp))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.layers[1].cfg.aug_rotate == Config().aug_rotate
