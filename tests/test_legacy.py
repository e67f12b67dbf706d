"""Models saved before the package was regrouped (issue #16) still load and predict."""

import os

import numpy as np

LEGACY = os.path.join(os.path.dirname(__file__), "data", "legacy")


def test_a_model_saved_by_the_flat_layout_loads_and_predicts_the_same():
    from gapnet.data.augment import AugmentRecipe
    from gapnet.training.predict import load_model

    model = load_model(os.path.join(LEGACY, "gapnet_v0.1.keras"))
    x = np.load(os.path.join(LEGACY, "gapnet_v0.1_input.npy"))
    expected = np.load(os.path.join(LEGACY, "gapnet_v0.1_output.npy"))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-6)
    # Every custom object came back with its saved settings.
    assert model.get_layer("augment").aug == AugmentRecipe(
        hflip=0.3, rot90=0.7, affine=0.0, noise=0.0)
    assert type(model.get_layer("normalize")).__name__ == "PerImageStandardization"
    opt = model.optimizer
    assert type(opt).__name__ == "ScaledAdam" and set(opt.lr_multipliers.values()) == {0.1, 1.0}
    assert type(opt._learning_rate).__name__ == "ShiftedSchedule"
    assert type(model.loss).__name__ == "SumOfLosses"
    y = np.zeros((len(x), 28), "float32")
    y[:, 0] = 1
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "macro_f1"} and np.isfinite(logs["loss"])
