"""Training techniques through one real fold: warmup and cosine over two stages, SGDR,
the plateau schedule, layer learning rates, the LR range test, oversampled copies."""

import json

import numpy as np
import pytest

from gapnet.config import Config
from gapnet.cv.kfold import run_kfold
from gapnet.cv.runfolder import read_predictions
from tests.conftest import TINY


def _train_one_fold(data_root, tmp_path, **extra):
    """Trains fold 0 of a 2-fold split with `extra` config keys; returns (cfg, steps per
    epoch, history rows)."""
    import csv

    from gapnet.cv.folds import make_folds
    from gapnet.data.prepare import prepare
    from gapnet.training.fit import FoldTask, fit

    cfg = Config(
        data=data_root,
        **{**TINY, "folds": 2, "selection": "last", "early_stopping_patience": 0, **extra},
    )
    data = prepare(cfg, log=lambda *a: None)
    folds = make_folds(data.targets, 2, 0)
    train, scored = np.flatnonzero(folds == 1), np.flatnonzero(folds == 0)
    select = scored if cfg.selection != "last" else None  # the schedule, not the score, is tested
    fit(
        cfg,
        FoldTask(data.reader, data.targets, train, select, scored, str(tmp_path), 0, 0),
        log=lambda *a: None,
    )
    rows = list(csv.DictReader(open(tmp_path / "history.csv")))
    assert len(rows) == cfg.epochs
    return cfg, -(-len(train) // cfg.batch_size), rows


@pytest.mark.slow  # the schedule itself: tests/test_optimizers.py
def test_warmup_cosine_over_two_stages_is_one_curve(tiny_data, tmp_path):
    from gapnet.training.build import learning_rate

    cfg, steps, rows = _train_one_fold(
        tiny_data, tmp_path, lr_schedule="cosine", lr_warmup_epochs=1, head_epochs=1, epochs=3
    )
    curve = learning_rate(cfg, steps)
    expected = [float(curve(steps * (e + 1))) for e in range(3)]
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx(expected, rel=1e-5)
    assert expected[0] == pytest.approx(cfg.learning_rate) and expected[-1] == 0


@pytest.mark.slow
def test_sgdr_restarts_per_batch(tiny_data, tmp_path):
    from gapnet.training.callbacks import sgdr_lr

    cfg, steps, rows = _train_one_fold(tiny_data, tmp_path, lr_schedule="sgdr", epochs=3)
    expected = [sgdr_lr(steps * (e + 1) - 1, cfg.learning_rate, 0.0, steps, 2.0) for e in range(3)]
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_plateau_halves_the_rate_when_the_selection_set_stalls(tiny_data, tmp_path):
    # A rate so small that little is learned: the selection macro-F1 stalls. The logged
    # rates must be those of the rule "halve after `plateau_patience` epochs without an
    # improvement of the selection-set macro-F1" replayed on the logged scores.
    cfg, _, rows = _train_one_fold(
        tiny_data,
        tmp_path,
        lr_schedule="plateau",
        epochs=4,
        plateau_patience=1,
        learning_rate=1e-9,
        selection="peek",
    )
    best, wait, lr, expected = -np.inf, 0, cfg.learning_rate, []
    for r in rows:
        score = float(r["val_macro_f1"])
        if score > best + 1e-4:  # Keras' min_delta
            best, wait = score, 0
        else:
            wait += 1
            if wait >= cfg.plateau_patience:
                lr, wait = lr * 0.5, 0
        expected.append(lr)
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx(expected, rel=1e-5)
    assert expected[-1] < cfg.learning_rate  # the rate was cut at least once


@pytest.mark.slow
def test_layer_learning_rates_reach_the_saved_optimizer(tiny_data, tmp_path):
    from gapnet.training.predict import load_model

    _train_one_fold(tiny_data, tmp_path, optimizer="sgd", layer_lr={"early": 0.1, "middle": 0.33})
    opt = load_model(str(tmp_path / "model.keras")).optimizer
    mult = opt.get_config()["lr_multipliers"]
    assert type(opt).__name__ == "ScaledSGD" and sorted(set(mult.values())) == [0.1, 0.33, 1.0]


@pytest.mark.slow
def test_lr_range_test_writes_the_curve_that_the_report_plots(tiny_data, tmp_path):
    _train_one_fold(tiny_data, tmp_path, lr_find=True)
    d = json.load(open(tmp_path / "lr_finder.json"))
    assert len(d["lr"]) == len(d["loss"]) > 10 and np.all(np.diff(d["lr"]) > 0)
    assert d["lr"][0] <= d["suggestion"] <= d["lr"][-1]


@pytest.mark.slow
def test_augmented_copies_train_but_are_never_scored(tiny_data, tmp_path):
    import shutil

    from gapnet.cv.kfold import merge
    from gapnet.data.oversample import write_oversampled

    root = tmp_path / "oversampled"
    _, copies = write_oversampled(
        tiny_data, str(root), min_count=6, progress=False, log=lambda *a: None
    )
    assert copies > 0
    run = tmp_path / "run"
    m = run_kfold(Config(data=str(root), **{**TINY, "folds": 2}), str(run), log=lambda *a: None)
    assert (m["n_samples"], m["n_copies_trained"], m["copies_scored"]) == (30, copies, 0)
    ids, _ = read_predictions(str(run / "oof_predictions.csv"))
    assert len(ids) == 30 and not any("_os" in i for i in ids)
    for k in range(2):
        select = open(run / f"fold_{k}" / "inner_val.csv").read().split()[1:]
        assert select and not any("_os" in i for i in select)
    # The same predictions scored from the data without the copies: the same metrics.
    plain = tmp_path / "plain"
    plain.mkdir()
    config = json.load(open(run / "config.json"))
    json.dump({**config, "data": str(tiny_data)}, open(plain / "config.json", "w"))
    rows = open(run / "folds.csv").read().splitlines()
    (plain / "folds.csv").write_text("\n".join(r for r in rows if "_os" not in r) + "\n")
    for k in range(2):
        shutil.copytree(run / f"fold_{k}", plain / f"fold_{k}")
    again = merge(str(plain), log=lambda *a: None)
    for key in ("n_copies_trained", "train_seconds"):
        m.pop(key), again.pop(key)
    assert again == m
