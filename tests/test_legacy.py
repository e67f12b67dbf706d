"""Models saved by earlier versions still load and predict: before the package was
regrouped (issue #16), and before models took uint8 pixels (issue #18)."""

import os

import numpy as np
import pytest

LEGACY = os.path.join(os.path.dirname(__file__), "data", "legacy")


def test_a_model_saved_by_the_flat_layout_loads_and_predicts_the_same():
    from gapnet.data.augment import AugmentRecipe
    from gapnet.training.predict import load_model

    model = load_model(os.path.join(LEGACY, "gapnet_v0.1.keras"))
    x = np.load(os.path.join(LEGACY, "gapnet_v0.1_input.npy"))  # float 0..1, that version's input
    expected = np.load(os.path.join(LEGACY, "gapnet_v0.1_output.npy"))
    # Today's models take pixel values 0..255: the old one comes back behind `to_float`.
    np.testing.assert_allclose(model.predict(x * 255, verbose=0), expected, atol=1e-6)
    inner = model.get_layer("gapnet")
    # Every custom object came back with its saved settings.
    assert inner.get_layer("augment").aug == AugmentRecipe(
        hflip=0.3, rot90=0.7, affine=0.0, noise=0.0
    )
    assert type(inner.get_layer("normalize")).__name__ == "PerImageStandardization"
    opt = model.optimizer
    assert type(opt).__name__ == "ScaledAdam" and set(opt.lr_multipliers.values()) == {0.1, 1.0}
    assert type(opt._learning_rate).__name__ == "ShiftedSchedule"
    assert type(model.loss).__name__ == "SumOfLosses"
    y = np.zeros((len(x), 28), "float32")
    y[:, 0] = 1
    logs = model.evaluate(x * 255, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "macro_f1"} and np.isfinite(logs["loss"])


@pytest.mark.slow  # suite time; the flat-layout legacy model is checked fast
def test_a_model_taking_floats_in_0_1_predicts_the_same_on_uint8_pixels():
    """gapnet 0.2's models took float 0..1; the file loads behind `to_float` and gives the
    predictions it gave at save time, on the uint8 images the pipeline now yields."""
    from gapnet.training.predict import load_model, predict, takes_pixels

    model = load_model(os.path.join(LEGACY, "gapnet_v0.2.keras"))
    assert takes_pixels(model) and [layer.name for layer in model.layers] == [
        "image",
        "to_float",
        "gapnet",
    ]
    u8 = np.load(os.path.join(LEGACY, "gapnet_v0.2_input_uint8.npy"))
    expected = np.load(os.path.join(LEGACY, "gapnet_v0.2_output.npy"))
    assert u8.dtype == np.uint8
    np.testing.assert_allclose(model.predict(u8, verbose=0), expected, atol=1e-6)

    class Reader:  # the pipeline's reader contract: uint8 samples
        size = 32

        def __len__(self):
            return len(u8)

        def __call__(self, i):
            return u8[i]

    got = predict(model, Reader(), np.arange(len(u8)), batch_size=3, tta="flips")
    assert got.shape == expected.shape
    np.testing.assert_allclose(predict(model, Reader(), np.arange(len(u8)), 3), expected, atol=1e-6)
    y = np.zeros((len(u8), 28), "float32")
    logs = model.evaluate(u8, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "macro_f1"}
    assert type(model.optimizer).__name__ == "Adam" and model.optimizer.iterations.numpy() == 2
