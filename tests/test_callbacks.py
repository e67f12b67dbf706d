import keras
import numpy as np
import pytest
from sklearn.metrics import f1_score

from gapnet import models
from gapnet.thresholds import search_f1
from gapnet.training import callbacks, tta


def tiny_problem(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 16)).astype("float32")
    y = np.zeros((n, 28), "float32")
    y[:, :12] = x[:, :12] > 0.6  # 12 learnable labels, 16 never present
    return x, y


def dense_model():
    keras.utils.set_random_seed(0)
    inp = keras.Input((16,))
    return keras.Model(inp, keras.layers.Dense(28, activation="sigmoid")(inp))


def test_macro_f1_callback_equals_sklearn_and_drives_checkpoints(tmp_path):
    x, y = tiny_problem()
    model = dense_model()
    model.compile("adam", "binary_crossentropy")
    cb = callbacks.MacroF1Callback((x, y))
    ckpt = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "best.keras"), monitor="val_macro_f1_tuned", mode="max", save_best_only=True
    )
    hist = model.fit(x, y, epochs=3, verbose=0, callbacks=[cb, ckpt])
    yt, p = cb.last
    assert hist.history["val_macro_f1_at_0.5"][-1] == pytest.approx(
        f1_score(yt, p > 0.5, average="macro", zero_division=0)
    )
    assert hist.history["val_macro_f1_tuned"][-1] == pytest.approx(
        f1_score(yt, p > search_f1(yt, p), average="macro", zero_division=0)
    )
    assert (tmp_path / "best.keras").exists()


def test_per_class_logger_and_threshold_search(tmp_path):
    x, y = tiny_problem()
    model = dense_model()
    model.compile("adam", "binary_crossentropy")
    log = callbacks.PerClassF1Logger((x, y), str(tmp_path / "f1.csv"))
    ts = callbacks.ThresholdSearch((x, y))
    model.fit(x, y, epochs=2, verbose=0, callbacks=[log, ts])
    lines = (tmp_path / "f1.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,f1_0") and len(lines) == 3
    assert ts.thresholds.shape == (28,) and ts.best_epoch in (0, 1)


def test_sgdr_curve_restarts_with_doubling_cycles():
    lr = [callbacks.sgdr_lr(s, 1.0, 0.0, 10, 2.0) for s in range(40)]
    assert lr[0] == 1.0 and lr[10] == 1.0 and lr[30] == 1.0  # restarts at 10 and 10 + 20
    assert lr[5] == pytest.approx(0.5) and lr[20] == pytest.approx(0.5)
    assert all(
        a > b for a, b in zip(lr[10:29], lr[11:30], strict=True)
    )  # decreasing within a cycle
    x, y = tiny_problem()
    model = dense_model()
    model.compile(keras.optimizers.SGD(), "binary_crossentropy")
    sched = callbacks.SGDR(0.1, 0.0, first_cycle=3)
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[sched])
    np.testing.assert_allclose(sched.lrs[:4], [0.1, 0.075, 0.025, 0.1])


def test_lr_finder_records_suggests_and_restores(tmp_path):
    x, y = tiny_problem(256)
    model = dense_model()
    model.compile(keras.optimizers.SGD(), "binary_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    finder = callbacks.LRFinder(1e-4, 10.0, steps=40)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[finder])
    assert 5 < len(finder.losses) <= 40 and finder.lrs == sorted(finder.lrs)
    assert 1e-4 <= finder.suggestion() <= 10.0
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    from gapnet.report.figures import lr_finder

    lr_finder(finder.lrs, finder.losses, finder.suggestion(), str(tmp_path / "lr.png"))
    assert (tmp_path / "lr.png").stat().st_size > 5000


def test_lr_finder_records_each_batch_loss_not_the_running_mean():
    # A fixed prediction of 0.8 and batches labelled all 1, all 0, all 1, ...: the batch
    # losses alternate between -ln 0.8 and -ln 0.2 (Keras' logs hold their running mean).
    model = keras.Sequential(
        [
            keras.Input((1,)),
            keras.layers.Dense(
                1,
                activation="sigmoid",
                kernel_initializer="zeros",
                bias_initializer=keras.initializers.Constant(np.log(4.0)),
            ),
        ]
    )
    model.compile(keras.optimizers.SGD(), "binary_crossentropy")
    x = np.ones((80, 1), "float32")
    y = np.repeat(np.arange(10) % 2 == 0, 8)[:, None].astype("float32")
    finder = callbacks.LRFinder(1e-12, 1e-11, steps=10, diverge=1e9)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[finder])
    expected = [-np.log(0.8) if j % 2 == 0 else -np.log(0.2) for j in range(10)]
    np.testing.assert_allclose(finder.losses, expected, rtol=1e-4)


def test_lr_finder_suggests_the_steepest_descent_of_a_known_curve():
    # Loss falls fastest at lr = 1e-3, bottoms out near 3e-2, then diverges; noise added.
    finder = callbacks.LRFinder(1e-6, 1.0, steps=120)
    finder.lrs = list(np.logspace(-6, 0, 120))
    t = np.log10(finder.lrs)
    rng = np.random.default_rng(0)
    finder.losses = list(
        1
        - 0.5 * np.tanh(2 * (t + 3))
        + np.where(t > -1.5, 3 * (t + 1.5) ** 2, 0)
        + rng.normal(0, 0.005, len(t))
    )
    assert 10**-3.15 <= finder.suggestion() <= 10**-2.85


def test_tta_invariant_on_symmetric_input_and_averages_views():
    model = models.build("gapnet", (32, 32, 4), 28, widths=(4, 8, 8), dense=(8, 8))
    rng = np.random.default_rng(0)
    q = rng.random((1, 16, 16, 4)).astype("float32")
    q = q + np.transpose(q, (0, 2, 1, 3))  # symmetric about the diagonal
    top = np.concatenate([q, q[:, :, ::-1]], 2)
    sym = np.concatenate([top, top[:, ::-1]], 1)  # D4-symmetric 32x32 image
    plain = keras.ops.convert_to_numpy(tta.predict_batch(model, sym, "none"))
    for s in ("flips", "d4"):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(tta.predict_batch(model, sym, s)),
            plain,
            rtol=1e-5,
            atol=1e-6,
        )
    x = rng.random((2, 32, 32, 4)).astype("float32")
    manual = np.mean(
        [model.predict(v, verbose=0) for v in (x, x[:, :, ::-1], x[:, ::-1, ::-1], x[:, ::-1])],
        axis=0,
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(tta.predict_batch(model, x, "flips")),
        manual,
        rtol=1e-5,
        atol=1e-6,
    )
