import keras
import numpy as np
import pytest

from gapnet import models
from gapnet.models.layers import PerImageStandardization

NETWORKS = models.list_models(networks_only=True)


def test_registry_lists_and_rejects_unknown_names():
    assert {
        "gapnet",
        "gapnet_pl",
        "deepyeast",
        "mcnn",
        "densenet121",
        "resnet50",
        "resnet34",
        "xception",
        "logreg",
        "random_forest",
    } <= set(models.list_models())
    assert not models.spec("logreg").network and models.spec("gapnet").network
    assert models.spec("logreg").fold_files == ("model.joblib", "val_predictions.csv")
    assert set(NETWORKS) == set(models.list_models()) - {"logreg", "random_forest"}
    with pytest.raises(
        ValueError,
        match=r"Unknown model 'resnet9'. Available: \['deepyeast', 'densenet121', 'gapnet'",
    ):
        models.build("resnet9", (64, 64, 4))
    with pytest.raises(ValueError, match="already registered"):
        models.register("gapnet")(lambda **kw: None)


@pytest.mark.parametrize("name, expected", [("gapnet", 632_652), ("gapnet_pl", 630_076)])
def test_published_parameter_counts_at_512(name, expected):
    assert models.build(name, (512, 512, 4), 28).count_params() == expected


# The default suite trains the two GapNets; every other network (3-45 s each here) runs in
# the slow suite, as do the transfer backbones' save/load round trips.
LEARN_FAST = {"gapnet_pl"}  # GapNet learns in the slow suite (9 s here)
ROUND_TRIP_FAST = {"gapnet", "gapnet_pl"}  # deepyeast and mcnn: slow suite (suite time)


def _slow_unless(fast):
    return [n if n in fast else pytest.param(n, marks=pytest.mark.slow) for n in NETWORKS]


@pytest.mark.parametrize("name", _slow_unless(LEARN_FAST))
def test_builds_any_size_outputs_probabilities_and_learns(name):
    keras.utils.set_random_seed(0)
    # Any input size (Xception needs >= 71 px); the large backbones are checked at one size
    # only, to keep the suite short (their tracing dominates).
    for size in (96, 128) if name in ("gapnet", "gapnet_pl", "deepyeast", "mcnn") else (96,):
        model = models.build(name, (size, size, 4), 28, preprocess=[PerImageStandardization()])
        x = np.random.default_rng(0).random((4, size, size, 4)).astype("float32")
        p = model.predict(x, verbose=0)
        assert p.shape == (4, 28) and (p >= 0).all() and (p <= 1).all()
    y = (np.random.default_rng(1).random((4, 28)) < 0.2).astype("float32")
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    losses = [float(model.train_on_batch(x, y)) for _ in range(4)]  # training-mode loss
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", _slow_unless(ROUND_TRIP_FAST))
def test_keras_round_trip_gives_identical_predictions(name, tmp_path):
    model = models.build(name, (96, 96, 4), 28, preprocess=[PerImageStandardization()])
    x = np.random.default_rng(0).random((2, 96, 96, 4)).astype("float32")
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(model.predict(x, verbose=0), again.predict(x, verbose=0))


def test_gapnet_layers_are_named_and_configurable():
    model = models.build("gapnet", (64, 64, 4), 5, widths=(8, 16, 32), dense=(32, 16))
    names = {layer.name for layer in model.layers}
    assert {
        "block1_1_bn",
        "block2_4_conv",
        "block3_gap",
        "gap_concat",
        "fc2",
        "predictions",
    } <= names
    assert model.get_layer("fc1").units == 32 and model.output_shape == (None, 5)


def test_layer_groups_split_body_and_head():
    groups = models.layer_groups(models.build("gapnet", (64, 64, 4), 28))
    assert groups["early"][0].name == "block1_1_bn"
    assert [layer.name for layer in groups["head"]] == ["fc1", "fc2", "predictions"]
    assert all("block" in layer.name for layer in groups["early"] + groups["middle"])


BIG = ("densenet121", "resnet50", "xception")


@pytest.mark.parametrize(  # the big transfer backbones in the slow suite (suite time)
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow)
        if n in ("densenet121", "resnet50", "xception")
        else n
        for n in NETWORKS
    ],
)
def test_the_head_is_exactly_the_fully_connected_layers(name):
    # The head (two-stage training, head fine-tuning, differential rates) is what follows
    # the final pooling: every Dense layer (with DeepYeast's BatchNorm inside its FC
    # blocks), no convolution, whatever the backbone's inner Concatenate layers.
    model = models.build(name, (96, 96, 4), 28)
    groups = models.layer_groups(model)
    flat = list(models.flat_layers(model))
    dense = [layer for layer in flat if isinstance(layer, keras.layers.Dense)]
    head = groups["head"]
    assert {id(layer) for layer in dense} <= {id(layer) for layer in head}
    assert all(
        isinstance(layer, (keras.layers.Dense, keras.layers.BatchNormalization)) for layer in head
    ), [layer.name for layer in head]
    body = groups["early"] + groups["middle"]
    convs = [layer for layer in flat if "Conv" in type(layer).__name__]
    assert {id(layer) for layer in convs} <= {id(layer) for layer in body}
    head_params = sum(layer.count_params() for layer in head)
    assert head_params + sum(layer.count_params() for layer in body) == model.count_params()
    if name in ("densenet121", "resnet50", "xception"):  # GAP -> 28 sigmoid outputs
        assert head_params == (model.get_layer("head_gap").output.shape[-1] + 1) * 28


@pytest.mark.slow  # suite time; the default job's config sets bn_momentum on every run
def test_bn_momentum_sets_every_batchnorm_and_moves_the_statistics():
    """Config.bn_momentum reaches nested backbones, and one step moves the moving mean by
    (1 - momentum) of the batch mean: the short-schedule fix for lagging statistics."""
    from types import SimpleNamespace

    from gapnet.config import Config
    from gapnet.training.build import build_model

    reader = SimpleNamespace(size=64)
    cfg = Config(model="resnet50", normalization="none", augment=False, bn_momentum=0.5)
    bns = [
        layer
        for layer in build_model(cfg, reader, None, 0)._flatten_layers()
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(bns) > 50 and {bn.momentum for bn in bns} == {0.5}

    for momentum, expected in ((0.5, 0.5), (None, 0.01)):  # None: Keras' 0.99
        cfg = Config(model="gapnet", normalization="none", augment=False, bn_momentum=momentum)
        model = build_model(cfg, SimpleNamespace(size=16), None, 0)
        model.compile(keras.optimizers.SGD(0.0), "binary_crossentropy")
        white = np.full((2, 16, 16, 4), 255, "uint8")  # 1.0 after `to_float`
        model.train_on_batch(white, np.zeros((2, 28), "float32"))
        moving_mean = model.get_layer("block1_1_bn").moving_mean.numpy()
        np.testing.assert_allclose(moving_mean, expected, rtol=1e-5)


@pytest.mark.parametrize("name", BIG)
def test_the_big_backbones_build_from_scratch_with_28_sigmoid_outputs(name):
    """Fast form of the slow tests that build them (head groups, two channels, transfer):
    each registered backbone builds at 4 channels, 8-bit input scaled on the model."""
    size = 71 if name == "xception" else 32  # Xception's smallest input
    model = models.build(name, (size, size, 4), 28)
    assert model.input_shape == (None, size, size, 4) and model.output_shape == (None, 28)
    assert model.layers[1].name == "to_float"
    assert model.layers[-1].get_config()["activation"] == "sigmoid"


def test_logreg_fits_saves_and_predicts_probabilities(tmp_path):
    """Fast form of the slow main-job run of `logreg`: seed 000's baseline through
    `fit_predict` (pixels at 64 px, C given), its model.joblib reloads to the same output."""
    import joblib

    from gapnet.models.baselines import _probs, features, fit_predict

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 64, 64, 4), dtype=np.uint8)
    targets = np.zeros((24, 3), np.float32)
    targets[np.arange(24), np.arange(24) % 3] = 1
    images[targets[:, 0] == 1, ..., 1] //= 4  # class 0: a dim green channel
    with joblib.parallel_backend("threading"):  # no worker processes to start
        probs = fit_predict(
            "logreg", images.__getitem__, targets, np.arange(18), np.arange(18, 24),
            str(tmp_path), seed=0, C=0.01,
        )  # fmt: skip
    assert probs.shape == (6, 3) and ((probs >= 0) & (probs <= 1)).all()
    model = joblib.load(tmp_path / "model.joblib")
    again = _probs(model, features(images.__getitem__, np.arange(18, 24)))
    np.testing.assert_allclose(again, probs, rtol=1e-6)
    np.testing.assert_array_equal(probs[:, 0] > 0.5, targets[18:, 0] == 1)
