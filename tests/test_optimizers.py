import keras
import numpy as np
import pytest

from gapnet import models
from gapnet.training.optimizers import ScaledAdam, ScaledSGD, group_multipliers


def moved(group_lr, opt_class=ScaledSGD):
    keras.utils.set_random_seed(0)
    model = models.build("gapnet", (32, 32, 4), 28, widths=(4, 8, 8), dense=(8, 8))
    model.compile(
        opt_class(lr_multipliers=group_multipliers(model, group_lr), learning_rate=0.05),
        "binary_crossentropy",
    )
    rng = np.random.default_rng(0)
    x = rng.random((8, 32, 32, 4)).astype("float32")
    y = (rng.random((8, 28)) < 0.2).astype("float32")
    before = {n: model.get_layer(n).get_weights()[0].copy() for n in ("block1_1_conv", "fc1")}
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # one step
    return {
        n: float(np.abs(model.get_layer(n).get_weights()[0] - w).sum()) for n, w in before.items()
    }


@pytest.mark.slow  # suite time; the groups round-trip fast below
def test_group_multipliers_scale_each_groups_step():
    full, tenth, frozen = moved({}), moved({"early": 0.1}), moved({"early": 0.0})
    assert frozen["block1_1_conv"] == 0 and frozen["fc1"] > 0
    # one plain SGD step: the update is exactly proportional to the multiplier
    assert tenth["block1_1_conv"] == pytest.approx(0.1 * full["block1_1_conv"], rel=1e-3)
    assert tenth["fc1"] == pytest.approx(full["fc1"], rel=1e-5)


def test_scaled_optimizer_round_trips_and_rejects_unknown_groups(tmp_path):
    model = models.build("gapnet", (32, 32, 4), 28, widths=(4, 8, 8), dense=(8, 8))
    mult = group_multipliers(model, {"early": 0.1, "head": 2})
    model.compile(ScaledAdam(lr_multipliers=mult), "binary_crossentropy")
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.optimizer.lr_multipliers == model.optimizer.lr_multipliers
    with pytest.raises(ValueError, match="early, middle, head"):
        group_multipliers(model, {"backbone": 0.1})


def test_gradient_accumulation_applies_every_n_batches():
    import keras
    import numpy as np

    from gapnet.config import Config
    from gapnet.training.build import compile_model

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(28, activation="sigmoid")])
    compile_model(model, Config(grad_accum_steps=3, learning_rate=0.1))
    x, y = np.ones((4, 3), np.float32), np.ones((4, 28), np.float32)
    w0 = model.get_weights()[0].copy()
    for step in range(1, 7):
        model.train_on_batch(x, y)
        changed = not np.array_equal(model.get_weights()[0], w0)
        assert changed == (step >= 3), step  # nothing moves before the 3rd batch
        if step == 3:
            w3 = model.get_weights()[0].copy()
        if step in (4, 5):
            np.testing.assert_array_equal(model.get_weights()[0], w3)


@pytest.mark.parametrize(
    "schedule, after", [("cosine", [0.0075, 0.0025, 0.0]), ("constant", [0.01, 0.01, 0.01])]
)
def test_warmup_ramps_linearly_then_follows_the_schedule(schedule, after):
    from gapnet.config import Config
    from gapnet.training.build import learning_rate

    cfg = Config.from_dict(
        {"lr_schedule": schedule, "lr_warmup_epochs": 1, "epochs": 4, "learning_rate": 0.01}
    )
    lr = learning_rate(cfg, steps_per_epoch=10)
    got = [float(lr(step)) for step in (0, 5, 10, 20, 30, 40)]
    np.testing.assert_allclose(got, [0.0, 0.005, 0.01] + after, atol=1e-7)
    assert learning_rate(Config(), 10) == 1e-3  # no warmup, constant: a plain float
    with pytest.raises(ValueError, match="lr_warmup_epochs"):
        Config.from_dict({"lr_schedule": "sgdr", "lr_warmup_epochs": 1})
    with pytest.raises(ValueError, match="lr_warmup_epochs"):
        Config.from_dict({"lr_warmup_epochs": 50, "epochs": 50})


@pytest.mark.slow
def test_two_stage_training_continues_one_schedule_across_the_stage_boundary(tmp_path):
    import keras

    from gapnet.config import Config
    from gapnet.cv.kfold import run_kfold
    from gapnet.data.synthetic.generate import write_dataset
    from gapnet.training.build import learning_rate
    from tests.conftest import TINY

    cfg = Config.from_dict(
        {
            "lr_schedule": "cosine",
            "lr_warmup_epochs": 1,
            "epochs": 3,
            "head_epochs": 1,
            "learning_rate": 0.01,
        }
    )
    whole, full = learning_rate(cfg, 10), learning_rate(cfg, 10, first_epoch=1)
    for step in (0, 1, 7, 19):  # the full stage's step s is the run's step 10 + s
        assert float(full(step)) == pytest.approx(float(whole(10 + step)), abs=1e-9)
    assert float(full(0)) == pytest.approx(0.01)  # not the warmup's 0 again
    # Through training: the last epoch's model ends at the end of the one curve (0).
    data = write_dataset(tmp_path / "d", 16, 48, seed=3, workers=1, progress=False)
    run = Config(
        data=data,
        **{
            **TINY,
            "folds": 2,
            "epochs": 3,
            "head_epochs": 1,
            "lr_schedule": "cosine",
            "lr_warmup_epochs": 1,
            "learning_rate": 0.01,
            "selection": "last",
            "early_stopping_patience": 0,
        },
    )
    run_kfold(run, str(tmp_path / "run"), fold=0, log=lambda *a: None)
    model = keras.saving.load_model(tmp_path / "run" / "fold_0" / "model.keras")
    assert int(model.optimizer.iterations) == 2  # the full stage's own steps (2 epochs x 1)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-7)
