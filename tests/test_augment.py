import functools

import numpy as np
import pytest

from gapnet.config import Config
from gapnet.data.augment import AugmentRecipe, CpuAugmenter
from gapnet.models.device_augment import device_augment

GEOMETRY_ONLY = dict(contrast=0.0, brightness=0.0, noise=0.0, blur=0.0)
EVERYTHING = dict(
    hflip=1.0,
    vflip=1.0,
    rot90=1.0,
    affine=1.0,
    crop=1.0,
    blur=1.0,
    contrast=1.0,
    brightness=1.0,
    noise=1.0,
)
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
        assert out.shape == (64, 64, 4) and out.dtype == np.uint8
        for c in range(1, 4):
            np.testing.assert_array_equal(out[..., 0], out[..., c])
        assert not np.array_equal(out[..., 0], pattern()[..., 0])


def test_cpu_same_seed_same_output_and_identity_when_off():
    aug = CpuAugmenter(R(**EVERYTHING))
    np.testing.assert_array_equal(aug(pattern(), 7), aug(pattern(), 7))
    assert not np.array_equal(aug(pattern(), 7), aug(pattern(), 8))
    out = CpuAugmenter(R(**NOTHING))(pattern(), 3)
    np.testing.assert_array_equal(out, pattern())


def test_cpu_intensity_range_and_per_channel_brightness():
    cfg = R(**{**NOTHING, "brightness": 1.0, "brightness_per_channel": 1.0})
    out = CpuAugmenter(cfg)(pattern(), 1)
    ratios = out[8:20, 10:40].mean((0, 1)) / pattern()[8:20, 10:40].mean((0, 1))
    assert np.all((ratios > 0.79) & (ratios < 1.21)) and np.ptp(ratios) > 0
    full = CpuAugmenter(R(**EVERYTHING))(pattern(), 5)
    assert full.dtype == np.uint8 and full.max() > 0


def test_cpu_intensity_rounds_to_the_nearest_level():
    """uint8 out: a gain applied to a flat image lands on the nearest 8-bit level."""
    from gapnet.data.augment import intensity

    flat = np.full((8, 8, 4), 100, np.uint8)
    rng = np.random.default_rng(0)
    r = R(
        **{
            **NOTHING,
            "brightness": 1.0,
            "brightness_per_channel": 0.0,
            "brightness_range": (1.2049, 1.2049),
        }
    )
    np.testing.assert_array_equal(intensity(flat, rng, r), 120)  # 120.49 -> 120
    r = R(**{**NOTHING, "brightness": 1.0, "brightness_range": (1.2051, 1.2051)})
    np.testing.assert_array_equal(intensity(flat, rng, r), 121)  # 120.51 -> 121
    r = R(**{**NOTHING, "brightness": 1.0, "brightness_range": (3.0, 3.0)})
    np.testing.assert_array_equal(intensity(flat, rng, r), 255)  # clipped, not wrapped


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


def test_same_draws_give_the_same_geometry_on_both_back_ends():
    """Both back ends draw the geometry's parameters in the same order; fed the CPU's draws,
    the device builds the same output->input map (so the same shear sign and axis, rotation
    centre, order of operations and pixel-centre convention) and `affine_transform` samples
    the same pixels as OpenCV's `warpAffine` (up to one 8-bit level: OpenCV's 1/32 px
    positions)."""
    import keras

    from gapnet.data.augment import geometric, geometry_matrix

    r = R(**{**EVERYTHING, **GEOMETRY_ONLY, "hflip": 0.5, "vflip": 0.5, "shear": 25.0})
    img = pattern()
    for seed in range(20):
        rng = np.random.default_rng([seed, 0])
        layer = device_augment(r, seed=0)
        layer._u = lambda shape, lo=0.0, hi=1.0, rng=rng: keras.ops.convert_to_tensor(
            rng.uniform(lo, hi, size=shape).astype("float32")
        )
        dev = keras.ops.convert_to_numpy(layer._matrix(1, 64, 64))
        cpu = geometry_matrix(np.random.default_rng([seed, 0]), r, 64, 64)
        np.testing.assert_allclose(dev[0, :6].reshape(2, 3), cpu, atol=1e-4)
        np.testing.assert_array_equal(dev[0, 6:], 0)
        warped = keras.ops.image.affine_transform(
            img[None].astype("float32"), dev, "bilinear", fill_mode="constant", fill_value=0.0
        )
        warped = np.round(keras.ops.convert_to_numpy(warped)[0])
        expected = geometric(img, np.random.default_rng([seed, 0]), r).astype(np.float32)
        assert np.abs(warped - expected).max() <= 1, seed


def test_recipe_is_read_from_the_config_keys():
    cfg = Config.from_dict({"aug_hflip": 0.25, "aug_scale": [0.8, 1.3], "aug_noise_std": 0.07})
    r = AugmentRecipe.from_config(cfg)
    assert (r.hflip, r.scale, r.noise_std, r.vflip) == (0.25, (0.8, 1.3), 0.07, cfg.aug_vflip)


def test_device_layer_round_trips_a_non_default_recipe_through_a_keras_file(tmp_path):
    import keras

    recipe = AugmentRecipe(
        hflip=0.1, rot90=0.9, affine=0.0, scale=(0.7, 1.4), rotate=3.0, noise=0.0, blur_sigma=0.3
    )
    assert recipe != AugmentRecipe()
    inp = keras.Input((32, 32, 4))
    model = keras.Model(inp, device_augment(recipe, seed=0)(inp))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.get_layer("augment").aug == recipe
    x = (pattern(32)[None].repeat(4, 0) / 255).astype("float32")
    out = keras.ops.convert_to_numpy(again.get_layer("augment")(x, training=True))
    assert out.shape == x.shape and not np.allclose(out, x, atol=1e-3)


def _marker_image(size=64):
    """Channel 0: an off-centre 8 x 16 marker (220) and an impulse (255) on 40; channel 2 the
    same at other levels; channels 1 and 3 flat at different levels (border fill, per-channel
    brightness, shared or per-channel noise)."""
    img = np.full((size, size), 40, np.uint8)
    img[10:18, 14:30] = 220
    img[44, 48] = 255
    return np.stack([img, np.full_like(img, 150), img // 2 + 20, np.full_like(img, 90)], -1)


def _statistics(x):
    """Per-sample statistics of a float (N, H, W, 4) batch in 0..1."""
    n, h, w, _ = x.shape
    g = x[..., 0].astype(np.float64)
    yy, xx = np.mgrid[:h, :w]
    marker = g > 0.6
    mass = marker.sum((1, 2)) + 1e-9
    mx = (marker * xx).sum((1, 2)) / mass
    my = (marker * yy).sum((1, 2)) / mass
    dx, dy = xx - mx[:, None, None], yy - my[:, None, None]
    sxx = (marker * dx**2).sum((1, 2)) / mass + 1e-3
    syy = (marker * dy**2).sum((1, 2)) / mass + 1e-3
    sxy = (marker * dx * dy).sum((1, 2)) / mass
    lap = np.abs(
        4 * g[:, 1:-1, 1:-1] - g[:, :-2, 1:-1] - g[:, 2:, 1:-1] - g[:, 1:-1, :-2] - g[:, 1:-1, 2:]
    ).mean((1, 2))
    inner = x[:, 24:40, 24:40].astype(np.float64)  # flat channels, away from the border
    hp1 = inner[..., 1] - inner[..., 1].mean((1, 2), keepdims=True)
    hp3 = inner[..., 3] - inner[..., 3].mean((1, 2), keepdims=True)
    corr = (hp1 * hp3).mean((1, 2)) / (hp1.std((1, 2)) * hp3.std((1, 2)) + 1e-6)
    return {
        "mean": g.mean((1, 2)),
        "cv": g.std((1, 2)) / (g.mean((1, 2)) + 1e-6),  # contrast, not brightness
        "flat_level": inner[..., 3].mean((1, 2)),
        "sharpness": lap,
        "peak": g.max((1, 2)),
        "black": (x[..., 1] == 0).mean((1, 2)),  # uncovered by the geometry
        "fill_spread": x[..., 3].std((1, 2)),
        "marker_x": mx,
        "marker_y": my,
        "marker_area": marker.mean((1, 2)),
        "marker_aspect": np.log(sxx / syy),
        "marker_tilt": sxy / np.sqrt(sxx * syy),
        "channel_ratio": inner[..., 1].mean((1, 2)) / (inner[..., 3].mean((1, 2)) + 1e-6),
        "noise": hp3.std((1, 2)),
        "noise_corr": corr,
    }


@functools.lru_cache(maxsize=2)
def _cpu_statistics(recipe, n, seed):
    """`_statistics` of CPU augmentations of `_marker_image` with seeds seed..seed+n-1
    (cached: the ablations share one CPU sample)."""
    img = _marker_image()
    aug = CpuAugmenter(recipe)
    return _statistics(np.stack([aug(img, s) for s in range(seed, seed + n)]) / np.float32(255))


def _device_statistics(recipe, n, seed):
    import keras

    batch = np.repeat(_marker_image()[None] / np.float32(255), n, 0)
    dev = keras.ops.convert_to_numpy(device_augment(recipe, seed=seed)(batch, training=True))
    dev = np.round(dev * 255) / np.float32(255)  # on the CPU's 8-bit levels: no spurious ties
    return _statistics(dev)


def _pvalues(cpu_recipe, device_recipe, n=1000, cpu_seed=0, device_seed=0):
    from scipy.stats import ks_2samp

    cpu = _cpu_statistics(cpu_recipe, n, cpu_seed)
    dev = _device_statistics(device_recipe, n, device_seed)
    return {k: ks_2samp(cpu[k], dev[k]).pvalue for k in cpu}


@pytest.mark.slow  # default-suite time (docs/development.md)
def test_cpu_and_device_recipes_sample_the_same_distributions():
    """1000 augmentations of one image by each back end: all fifteen statistics have the
    same distribution (two-sample Kolmogorov-Smirnov p > 1e-3)."""
    pvalues = _pvalues(R(), R())
    assert min(pvalues.values()) > 1e-3, pvalues


# Each transform alone at p = 1 (the audit's per-transform comparison).
ALONE = {
    "rot90": dict(rot90=1.0),
    "scale": dict(affine=1.0, rotate=0.0, shear=0.0, translate=0.0),
    "shear": dict(affine=1.0, rotate=0.0, scale=(1.0, 1.0), translate=0.0),
    "translate": dict(affine=1.0, rotate=0.0, shear=0.0, scale=(1.0, 1.0)),
    "rotate": dict(affine=1.0, shear=0.0, scale=(1.0, 1.0), translate=0.0),
    "crop": dict(crop=1.0),
    "blur": dict(blur=1.0),
    "contrast": dict(contrast=1.0),
    "brightness": dict(brightness=1.0),
    "noise": dict(noise=1.0),
}


@pytest.mark.parametrize("name", list(ALONE))
def test_each_transform_alone_has_the_same_distribution_on_both_back_ends(name):
    r = R(**{**NOTHING, **ALONE[name]})
    pvalues = _pvalues(r, r, n=500)
    assert min(pvalues.values()) > 1e-3, pvalues


# Every field of the recipe switched off (or its range collapsed) on the device only.
OFF = {
    "hflip": 0.0,
    "vflip": 0.0,
    "rot90": 0.0,
    "affine": 0.0,
    "scale": (1.0, 1.0),
    "translate": 0.0,
    "rotate": 0.0,
    "shear": 0.0,
    "crop": 0.0,
    "crop_max": 0.0,
    "blur": 0.0,
    "blur_sigma": 0.0,
    "contrast": 0.0,
    "contrast_range": (1.0, 1.0),
    "brightness": 0.0,
    "brightness_range": (1.0, 1.0),
    "brightness_per_channel": 0.0,
    "noise": 0.0,
    "noise_std": 0.0,
    "noise_per_channel": 0.0,
}


# Which statistics see each field switched off (measured; the field's own signature, so an
# ablation cannot pass on a chance difference between the two samples elsewhere).
OWN = {
    "hflip": ["marker_x"],
    "vflip": ["marker_y"],
    "rot90": ["marker_aspect"],
    "affine": ["fill_spread", "black"],
    "scale": ["marker_area"],
    "translate": ["fill_spread"],
    "rotate": ["fill_spread", "marker_tilt", "marker_aspect"],
    "shear": ["fill_spread", "marker_tilt"],
    "crop": ["marker_area", "fill_spread"],
    "crop_max": ["marker_area", "fill_spread"],
    "blur": ["sharpness"],
    "blur_sigma": ["sharpness"],
    "contrast": ["cv"],
    "contrast_range": ["cv"],
    "brightness": ["flat_level"],
    "brightness_range": ["flat_level"],
    "brightness_per_channel": ["channel_ratio"],
    "noise": ["noise"],
    "noise_std": ["noise"],
    "noise_per_channel": ["noise_corr"],
}


def test_the_ablations_cover_every_field_of_the_recipe():
    import dataclasses

    fields = {f.name for f in dataclasses.fields(AugmentRecipe)}
    assert set(OFF) == fields and set(OWN) == fields
    assert set().union(*OWN.values()) <= set(_statistics(_marker_image()[None] / 255.0))


# The ablations start from every transform at p = 1 except the flips and k*90 rotations
# (0.5: with rot90 at p = 1 either flip alone already gives every element of the dihedral
# group equally often, so no test could see it off), shear widened to 25 degrees and
# translation to 10 % so that 3000 draws see them through their own statistics: at the
# default probabilities the KS test cannot see translate, shear, blur or per-channel
# brightness switched off (1000 draws, min p 0.22, 0.24, 0.048, 0.11; measured at 8d3ce1a).
ABLATION_BASE = dict(
    EVERYTHING,
    hflip=0.5,
    vflip=0.5,
    rot90=0.5,
    brightness_per_channel=0.5,
    noise_per_channel=0.5,
    shear=25.0,
    translate=0.1,
)
# Fixed samples: CPU seeds 20000..22999, the device layer's seed 2 (baseline min p 0.12).
# The back ends agree (60,000 draws each: every statistic p >= 0.003), so a fixed pair of
# samples fails the baseline only by chance; the former pair (CPU seeds 0..1999, device
# seed 0) was such a chance: its device sample alone differs from 20,000 fresh CPU draws
# at p = 3e-4 in marker_y (docs/configuration.md).
ABLATION_N, ABLATION_CPU_SEED, ABLATION_DEVICE_SEED = 3000, 20_000, 2


def _ablation_pvalues(**device_changes):
    r = R(**ABLATION_BASE)
    return _pvalues(
        r,
        R(**{**ABLATION_BASE, **device_changes}),
        n=ABLATION_N,
        cpu_seed=ABLATION_CPU_SEED,
        device_seed=ABLATION_DEVICE_SEED,
    )


@pytest.mark.slow
def test_the_ablation_base_recipe_has_the_same_distribution_on_both_back_ends():
    pvalues = _ablation_pvalues()
    assert min(pvalues.values()) > 1e-3, pvalues


@pytest.mark.slow
@pytest.mark.parametrize("field", list(OFF))
def test_parity_test_sees_each_field_switched_off_on_one_back_end(field):
    pvalues = _ablation_pvalues(**{field: OFF[field]})
    assert min(pvalues[k] for k in OWN[field]) < 1e-5, pvalues
