import keras
import numpy as np
import pytest
from sklearn.metrics import f1_score

from gapnet.training import losses


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    y = (rng.random((64, 28)) < 0.2).astype("float32")
    p = np.clip(0.5 * y + 0.5 * rng.random((64, 28)), 0.01, 0.99).astype("float32")
    return y, p


def value(loss, y, p):
    return float(keras.ops.convert_to_numpy(loss(y, p)))


def bce(y, p):
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def test_focal_equals_bce_at_gamma_0_and_matches_hand_computation(arrays):
    y, p = arrays
    assert value(losses.FocalLoss(0.0, None), y, p) == pytest.approx(bce(y, p), rel=1e-5)
    assert value(keras.losses.BinaryCrossentropy(), y, p) == pytest.approx(bce(y, p), rel=1e-4)
    pt = y * p + (1 - y) * (1 - p)
    hand = np.mean(-((1 - pt) ** 2) * np.log(pt) * (0.25 * y + 0.75 * (1 - y)))
    assert value(losses.FocalLoss(2.0, 0.25), y, p) == pytest.approx(hand, rel=1e-5)
    assert value(losses.FocalLoss(2.0), y, p) < bce(y, p)  # easy examples down-weighted


def test_soft_f1_on_hard_predictions_is_one_minus_macro_f1(arrays):
    y, p = arrays
    hard = (p > 0.5).astype("float32")
    hard[:, 27], y[:, 27] = 0, 0  # a class absent from the batch and never predicted
    macro = f1_score(y, hard, average="macro", zero_division=0)
    assert value(losses.SoftF1Loss(), y, np.clip(hard, 0, 1)) == pytest.approx(1 - macro, abs=1e-4)
    # The smoothed variant does not punish the absent, never-predicted class.
    assert value(losses.SoftF1Loss(smooth=1.0), y, hard) < value(losses.SoftF1Loss(), y, hard)


def test_weighted_bce_weights_and_equality_with_bce(arrays):
    y, p = arrays
    assert value(losses.WeightedBCE(np.ones(28)), y, p) == pytest.approx(bce(y, p), rel=1e-5)
    w = losses.positive_weights(np.array([[1, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]]))
    np.testing.assert_allclose(w, [3.0, 100.0, 100.0])
    assert value(losses.WeightedBCE(np.full(28, 5.0)), y, p) > bce(y, p)


def test_combination_sums_parts_and_names(arrays):
    y, p = arrays
    combo = losses.get("bce+soft_f1")
    assert value(combo, y, p) == pytest.approx(
        value(losses.get("bce"), y, p) + value(losses.get("soft_f1"), y, p), rel=1e-4
    )
    with pytest.raises(ValueError, match="Unknown loss 'dice'"):
        losses.get("bce+dice")


def test_losses_are_float32_under_mixed_precision(arrays):
    y, p = arrays
    out = losses.FocalLoss()(y, keras.ops.cast(p, "bfloat16"))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


@pytest.mark.parametrize(  # one in the default suite; the loss values are tested above
    "name",
    ["focal"]
    + [
        pytest.param(n, marks=pytest.mark.slow)
        for n in ("weighted_bce", "soft_f1_smooth", "bce+soft_f1")
    ],
)
def test_models_with_each_loss_train_and_reload(name, arrays, tmp_path):
    y, _ = arrays
    inp = keras.Input((28,))
    model = keras.Model(inp, keras.layers.Dense(28, activation="sigmoid")(inp))
    model.compile("adam", losses.get(name, targets=y))
    x = np.random.default_rng(1).random((64, 28)).astype("float32")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, verbose=0)
    assert model.evaluate(x, y, verbose=0) < first
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.evaluate(x, y, verbose=0) == pytest.approx(
        model.evaluate(x, y, verbose=0), rel=1e-5
    )


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_outputs_and_losses_stay_float32_under_mixed_precision(policy):
    import keras

    from gapnet import models
    from gapnet.training.losses import get

    keras.mixed_precision.set_global_policy(policy)
    try:
        model = models.build("gapnet", (32, 32, 4), 28, widths=[8, 8, 8], dense=[16, 16])
        y_pred = model(np.random.default_rng(0).random((4, 32, 32, 4), np.float32))
        assert keras.backend.standardize_dtype(y_pred.dtype) == "float32"
        y = (np.random.default_rng(1).random((4, 28)) < 0.2).astype(np.float32)
        for name in ["bce", "weighted_bce", "focal", "soft_f1", "bce+soft_f1"]:
            value = get(name, y)(y, y_pred)
            assert keras.backend.standardize_dtype(value.dtype) == "float32", name
            assert np.isfinite(float(value)), name
        conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
        assert conv.compute_dtype == policy.split("_")[1]  # the body does run in low precision
    finally:
        keras.mixed_precision.set_global_policy("float32")
