"""Head fine-tuning (`experiments/finetune_head.py`, `gapnet.cv.finetune`): the head of
each fold model trained further on a frozen body, written as a run folder of its own."""

import os

import numpy as np
import pytest

from gapnet.config import Config
from gapnet.io import read_json


def test_finetuning_moves_the_head_and_keeps_the_body(tiny_run):
    """Fast form of the slow test below: one step of `finetune_head`'s recipe on a fold
    model of the shared run (frozen body, compiled as the fine-tuning compiles it)."""
    from gapnet.cv.finetune import freeze_all_but_head
    from gapnet.training.build import compile_model
    from gapnet.training.predict import load_model

    run, _ = tiny_run
    model = load_model(os.path.join(run, "fold_0", "model.keras"))
    cfg = Config.from_file(os.path.join(run, "config.json"))
    cfg = Config.from_dict({"loss": "soft_f1", "learning_rate": 1e-2}, cfg)
    head = freeze_all_but_head(model)
    assert [layer.name for layer in head] == ["fc1", "fc2", "predictions"]
    size = model.input_shape[1]
    x = np.random.default_rng(0).integers(0, 256, (4, size, size, 4), dtype=np.uint8)
    y = np.eye(28, dtype=np.float32)[[0, 5, 25, 0]]
    compile_model(model, cfg, 1, y)
    body = {n: [w.copy() for w in model.get_layer(n).get_weights()] for n in ("block1_1_conv",)}
    fc1 = model.get_layer("fc1").get_weights()[0].copy()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    for name, weights in body.items():
        for a, b in zip(weights, model.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert not np.allclose(fc1, model.get_layer("fc1").get_weights()[0])


@pytest.mark.slow  # ~10 s: fine-tunes every fold of the shared run
def test_finetune_head_moves_only_the_head(tiny_run, tmp_path, capsys):
    import shutil

    import keras

    from gapnet.cv.finetune import finetune_run

    out, _ = tiny_run
    run = tmp_path / "run"
    shutil.copytree(out, run)
    m = finetune_run(str(run), loss="soft_f1", epochs=1, lr=1e-2, log=lambda *a: None)
    before = keras.saving.load_model(run / "fold_0" / "model.keras")
    after = keras.saving.load_model(run / "finetune_soft_f1" / "fold_0" / "model.keras")
    for name in ("block1_1_conv", "block2_4_bn", "block3_3_conv"):
        for a, b in zip(
            before.get_layer(name).get_weights(), after.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(a, b)  # convolution chain (and BN statistics) frozen
    assert not np.allclose(
        before.get_layer("fc1").get_weights()[0], after.get_layer("fc1").get_weights()[0]
    )
    for f in ("oof_predictions.csv", "thresholds.json", "metrics.json"):
        assert (run / "finetune_soft_f1" / f).is_file()
    assert 0 <= m["macro_f1"] <= 1
    # The script: finished folds are skipped; the before/after table is written.
    import runpy

    main = runpy.run_path("experiments/finetune_head.py", run_name="finetune")["main"]
    assert main(["--run", str(run), "--loss", "soft_f1", "--epochs", "1", "--lr", "1e-2"]) == 0
    table = (run / "finetune_soft_f1" / "before_after.md").read_text()
    assert f"| after | {m['macro_f1']:.3f} |" in table
    # It says where it wrote, and compare.py takes that folder beside the run's own.
    tuned = str(run / "finetune_soft_f1")
    assert f"fine-tuned run folder: {tuned}" in capsys.readouterr().out
    compare = runpy.run_path("experiments/compare.py", run_name="compare")["main"]
    assert compare([str(run), tuned, "--out", str(tmp_path / "cmp")]) == 0
    rows = (tmp_path / "cmp" / "comparison.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["run", "run/finetune_soft_f1"]
    # The fine-tuning chose no epoch (the last kept): not labelled as chosen on the inner set.
    assert read_json(run / "finetune_soft_f1" / "config.json")["selection"] == "last"
    said = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "head fine-tuned for 1 epoch(s), the last kept, from the run's fold models" in said


def test_a_fine_tuned_run_keeps_a_peeking_base_run_optimistic_label():
    from gapnet.cv.finetune import finetuned_selection

    for base, want in (("inner", "last"), ("last", "last"), ("peek", "peek")):
        selection, label = finetuned_selection(Config(selection=base), 3)
        assert selection == want and label.startswith("head fine-tuned for 3 epoch(s)")
    assert "(epoch chosen on the scored fold (optimistic))" in label
