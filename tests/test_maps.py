"""Localization maps (`gapnet.explain.maps`): CAM, Grad-CAM, gradient x input and
integrated gradients against hand computations, on every network."""

import os

import keras
import numpy as np
import pytest

from gapnet.explain.maps import Explainer, class_maps


def cam_model(size=16, channels=3):
    """A GAP -> Dense network as gapnet builds them: `to_float`, a 1x1 convolution (so the
    CAM is exactly equivariant to flips and rotations), GAP, `predictions`."""
    from gapnet.models._blocks import sigmoid_head, stem

    keras.utils.set_random_seed(3)
    inputs, x = stem((size, size, 4))
    x = keras.layers.Conv2D(channels, 1, activation="relu", name="features")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(0.2, name="head_dropout")(x)
    return keras.Model(inputs, sigmoid_head(x, 28), name="toy")


def test_cam_equals_the_hand_computation_for_a_gap_dense_head():
    model = cam_model()
    x = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 4)).astype(np.uint8)
    ex = Explainer(model)
    assert ex.kind == "cam" and ex.tap_names == ["gap"]
    maps = ex.maps(x, [0, 5])
    feats = keras.Model(model.inputs, model.get_layer("features").output)(x).numpy()
    w, b = model.get_layer("predictions").get_weights()
    hand = np.einsum("bhwc,ck->bkhw", feats, w[:, [0, 5]])
    np.testing.assert_allclose(maps, hand, rtol=1e-5, atol=1e-6)
    # The map's mean plus the bias is the logit the model outputs.
    logits = maps.mean((2, 3)) + b[[0, 5]]
    np.testing.assert_allclose(
        1 / (1 + np.exp(-logits)), model.predict(x, verbose=0)[:, [0, 5]], rtol=1e-5
    )
    np.testing.assert_allclose(ex.probabilities(x), model.predict(x, verbose=0), rtol=1e-5)


def test_maps_are_registered_with_the_input_and_tta_turns_views_back():
    """A bright dot: the CAM of a 1x1-convolution network peaks on it, and averaging the
    maps of the 8 flipped/rotated views (each turned back) gives the same map."""
    model = cam_model(channels=1)
    w = model.get_layer("features").get_weights()
    w[0][:] = 0
    w[0][0, 0, 1, 0] = 1.0  # the feature is the protein channel
    model.get_layer("features").set_weights(w)
    wd = model.get_layer("predictions").get_weights()
    wd[0][:] = 1.0
    model.get_layer("predictions").set_weights(wd)
    x = np.zeros((1, 16, 16, 4), np.uint8)
    x[0, 3, 11, 1] = 255
    plain = class_maps(model, x, [2])
    assert np.unravel_index(plain[0, 0].argmax(), (16, 16)) == (3, 11)
    np.testing.assert_allclose(class_maps(model, x, [2], tta="d4"), plain, atol=1e-6)


@pytest.mark.parametrize(
    "name",
    [
        "gapnet",
        "gapnet_pl",
        "deepyeast",
        "mcnn",
        pytest.param("resnet34", marks=pytest.mark.slow),
        pytest.param("densenet121", marks=pytest.mark.slow),
        pytest.param("resnet50", marks=pytest.mark.slow),
        pytest.param("xception", marks=pytest.mark.slow),
    ],
)
def test_every_network_gets_maps_at_the_input_resolution(name):
    from gapnet import models

    size = 96 if name != "xception" else 80
    model = models.build(name, (size, size, 4), 28)
    ex = Explainer(model)
    assert ex.kind == ("gradcam" if name in ("gapnet", "gapnet_pl", "deepyeast", "mcnn") else "cam")
    if name in ("gapnet", "gapnet_pl"):  # the three pooled levels of the multi-level head
        assert ex.tap_names == ["block1_gap", "block2_gap", "block3_gap"]
    x = np.random.default_rng(1).integers(0, 256, (2, size, size, 4)).astype(np.uint8)
    maps = class_maps(ex, x, [0, 3, 27], tta="flips")
    assert maps.shape == (2, 3, size, size) and np.isfinite(maps).all()
    np.testing.assert_allclose(
        ex.probabilities(x), model.predict(x, verbose=0), rtol=1e-4, atol=1e-6
    )


def test_a_pre_0_3_model_is_explained_on_pixels():
    """The committed gapnet 0.2 model (float 0..1 input) loads wrapped behind `to_float`; its
    maps on uint8 pixels are those of the saved network on pixels / 255."""
    from gapnet.training.predict import load_model

    legacy = os.path.join(os.path.dirname(__file__), "data", "legacy")
    wrapped = load_model(os.path.join(legacy, "gapnet_v0.2.keras"))
    u8 = np.load(os.path.join(legacy, "gapnet_v0.2_input_uint8.npy"))
    inner = Explainer(wrapped.get_layer("gapnet"))
    assert inner.scale == 1.0 and Explainer(wrapped).scale == 1 / 255
    np.testing.assert_allclose(
        Explainer(wrapped).maps(u8, [1, 4]),
        inner.maps(u8.astype(np.float32) / 255, [1, 4]),
        rtol=1e-4,
        atol=1e-6,
    )


def per_image_model(size=16):
    """Per-image standardization (the default job's), a 3x3 convolution, GAP, Dense."""
    from gapnet.models._blocks import sigmoid_head, stem
    from gapnet.models.layers import PerImageStandardization

    keras.utils.set_random_seed(5)
    inputs, x = stem((size, size, 4), [PerImageStandardization(name="normalize")])
    x = keras.layers.Conv2D(6, 3, padding="same", activation="tanh", name="features")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, sigmoid_head(x, 28), name="toy_pi")


def _direct_grad_x_input(model, x, k):
    import tensorflow as tf

    xt = tf.convert_to_tensor(x.astype(np.float32))
    logit_model = keras.Model(model.inputs, model.get_layer("predictions").input)
    w, b = model.get_layer("predictions").get_weights()
    with tf.GradientTape() as tape:
        tape.watch(xt)
        logit = tf.matmul(logit_model(xt), w[:, k : k + 1]) + b[k]
    return (tape.gradient(logit, xt).numpy() * x)[..., 1]  # the protein (green) channel


def test_input_gradient_equals_a_direct_gradient_tape_computation():
    model = per_image_model()
    x = np.random.default_rng(2).integers(0, 256, (2, 16, 16, 4)).astype(np.float32)
    ex = Explainer(model)
    signed = ex.input_gradient(x, [3, 7], positive=False)
    for j, k in enumerate([3, 7]):
        hand = _direct_grad_x_input(model, x, k)
        np.testing.assert_allclose(signed[:, j], hand, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ex.input_gradient(x, [3, 7]), np.maximum(signed, 0), atol=1e-7)


def test_gradient_x_input_sums_to_zero_under_per_image_normalization():
    """Scaling the protein channel leaves a per-image-standardized logit unchanged, so its
    gradient x input is a zero-sum attribution, not a share of the logit."""
    ex = Explainer(per_image_model())
    x = np.random.default_rng(3).integers(1, 256, (2, 16, 16, 4)).astype(np.float32)
    m = ex.input_gradient(x, [0, 9], positive=False)
    ratio = np.abs(m.sum((2, 3))) / np.abs(m).sum((2, 3))
    assert ratio.max() < 1e-3 and np.abs(m).max() > 0


def test_integrated_gradients_are_complete_under_per_image_normalization():
    from gapnet.explain.maps import blurred_baseline

    model = per_image_model()
    dense = model.get_layer("predictions")
    dense.set_weights([dense.get_weights()[0] * 30, dense.get_weights()[1]])  # logits of ~1
    ex = Explainer(model)
    x = np.random.default_rng(4).integers(0, 256, (2, 16, 16, 4)).astype(np.float32)
    base = blurred_baseline(x)
    np.testing.assert_array_equal(base[..., [0, 2, 3]], x[..., [0, 2, 3]])
    ig = ex.integrated_gradients(x, [2, 11], steps=64)
    gap = ex.logits(x)[:, [2, 11]] - ex.logits(base)[:, [2, 11]]
    assert np.abs(gap).min() > 5e-3
    np.testing.assert_allclose(ig.sum((2, 3)), gap, rtol=1e-2, atol=1e-5)
    # selectable through class_maps, the function explain and the benchmark call
    np.testing.assert_allclose(
        class_maps(ex, x, [2, 11], method="integrated_gradients", steps=64), ig, atol=1e-6
    )


def test_gradcam_equals_a_hand_computation_on_a_two_level_network():
    import tensorflow as tf

    from gapnet.models._blocks import sigmoid_head, stem

    keras.utils.set_random_seed(6)
    inputs, x = stem((16, 16, 4))
    f1 = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="f1")(x)
    f2 = keras.layers.Conv2D(5, 3, strides=2, padding="same", activation="relu", name="f2")(f1)
    g = keras.layers.Concatenate(name="cat")(
        [
            keras.layers.GlobalAveragePooling2D(name="g1")(f1),
            keras.layers.GlobalAveragePooling2D(name="g2")(f2),
        ]
    )
    h = keras.layers.Dense(8, activation="relu", name="fc")(g)
    model = keras.Model(inputs, sigmoid_head(h, 28), name="two_level")
    ex = Explainer(model)
    assert ex.kind == "gradcam" and ex.tap_names == ["g1", "g2"]
    x = np.random.default_rng(7).integers(0, 256, (2, 16, 16, 4)).astype(np.uint8)
    maps = ex.maps(x, [1, 6])
    feats = keras.Model(model.inputs, [model.get_layer("f1").output, model.get_layer("f2").output])
    F1, F2 = (tf.convert_to_tensor(a) for a in feats(x.astype(np.float32)))
    w, b = model.get_layer("predictions").get_weights()
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([F1, F2])
        pooled = tf.concat([tf.reduce_mean(F1, (1, 2)), tf.reduce_mean(F2, (1, 2))], 1)
        logits = tf.matmul(model.get_layer("fc")(pooled), w) + b
        picked = [logits[:, 1], logits[:, 6]]
    hand = np.zeros_like(maps)
    for j, v in enumerate(picked):
        for F in (F1, F2):
            alpha = tf.reduce_mean(tape.gradient(v, F), (1, 2))  # (B, C)
            cam = tf.nn.relu(tf.einsum("bhwc,bc->bhw", F, alpha))[..., None]
            hand[:, j] += tf.image.resize(cam, (16, 16), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(maps, hand, rtol=1e-4, atol=1e-6)
    assert hand.max() > 0
