"""4-channel transfer: pretrained RGB kernels arrive, yellow from red (or zeros), adapters."""

import keras
import numpy as np
import pytest

from gapnet import models
from gapnet.models.resnet34 import ResNet34

SHAPE3, SHAPE4 = (64, 64, 3), (64, 64, 4)


def saved_backbone(tmp_path, factory, suffix=".weights.h5"):
    keras.utils.set_random_seed(3)
    src = factory(include_top=False, weights=None, input_shape=SHAPE3)
    path = str(tmp_path / f"backbone{suffix}")
    src.save_weights(path) if suffix == ".weights.h5" else src.save(path)
    return src, path


@pytest.mark.slow  # default-suite time (docs/development.md)
def test_widen_copies_bgr_kernels_in_rgby_order_and_red_to_yellow(tmp_path):
    src, path = saved_backbone(tmp_path, keras.applications.ResNet50)
    model = models.build("resnet50", SHAPE4, 28, weights=path)  # yellow_init="copy_red"
    k3 = src.get_layer("conv1_conv").get_weights()[0]  # caffe-style ResNet50: B, G, R
    k4 = model.get_layer("backbone").get_layer("conv1_conv").get_weights()[0]
    assert k4.shape == k3.shape[:2] + (4,) + k3.shape[3:]
    np.testing.assert_allclose(k4[:, :, 0], 0.75 * k3[:, :, 2])  # red
    np.testing.assert_allclose(k4[:, :, 1], 0.75 * k3[:, :, 1])  # green
    np.testing.assert_allclose(k4[:, :, 2], 0.75 * k3[:, :, 0])  # blue
    np.testing.assert_allclose(k4[:, :, 3], k4[:, :, 0])  # yellow = red
    deep = "conv5_block3_3_conv"
    for a, b in zip(
        src.get_layer(deep).get_weights(),
        model.get_layer("backbone").get_layer(deep).get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_widen_with_zero_yellow_from_a_keras_file(tmp_path):
    src, path = saved_backbone(tmp_path, ResNet34, suffix=".keras")
    model = models.build("resnet34", SHAPE4, 28, weights=path, yellow_init="zeros")
    k3 = src.get_layer("conv1_conv").get_weights()[0]  # RGB order
    k4 = model.get_layer("backbone").get_layer("conv1_conv").get_weights()[0]
    np.testing.assert_array_equal(k4[:, :, :3], k3)  # no rescaling with a zero yellow kernel
    assert not k4[:, :, 3].any()


@pytest.mark.slow
def test_adapter_starts_as_the_pretrained_network(tmp_path):
    src, path = saved_backbone(tmp_path, keras.applications.DenseNet121)
    model = models.build("densenet121", SHAPE4, 28, weights=path, four_channel="adapter")
    x = np.random.default_rng(0).random((2,) + SHAPE4).astype("float32")
    rgb = model.get_layer("rgby_to_rgb")(x)
    features = keras.ops.convert_to_numpy(model.get_layer("backbone")(rgb, training=False))
    np.testing.assert_allclose(
        features, src.predict(x[..., :3], verbose=0), rtol=1e-4, atol=1e-5
    )  # yellow ignored, RGB passed through


def test_bad_weight_arguments_are_clear(tmp_path):
    with pytest.raises(ValueError, match="weights file not found"):
        models.build("resnet50", SHAPE4, 28, weights=str(tmp_path / "none.weights.h5"))
    with pytest.raises(ValueError, match="No ImageNet weights for ResNet34"):
        models.build("resnet34", SHAPE4, 28, weights="imagenet")
    with pytest.raises(ValueError, match="four_channel"):
        models.build("resnet50", SHAPE4, 28, four_channel="stack")
