"""The epoch that predicts a fold is never chosen on that fold (Config.selection)."""

import os

import numpy as np
import pytest

from gapnet.config import Config
from gapnet.cv.kfold import run_kfold
from tests.conftest import TINY

FOLD = 1


def _relabelled(src: str, dst: str, folds_file: str) -> str:
    """A copy of the dataset whose fold-FOLD samples all carry every one of the 28 labels
    (their validation loss then rises as training proceeds)."""
    os.makedirs(dst)
    os.symlink(os.path.join(src, "train"), os.path.join(dst, "train"))
    fold = dict(line.strip().split(",") for line in open(folds_file).readlines()[1:])
    rows = open(os.path.join(src, "train.csv")).read().splitlines()
    every = " ".join(str(k) for k in range(28))
    out = [rows[0]] + [
        f"{r.split(',')[0]},{every}" if fold[r.split(",")[0]] == str(FOLD) else r for r in rows[1:]
    ]
    with open(os.path.join(dst, "train.csv"), "w") as f:
        f.write("\n".join(out) + "\n")
    return dst


def _fold_predictions(data, out, folds_file, **kw) -> bytes:
    cfg = Config(
        data=data,
        **{
            **TINY,
            "epochs": 3,
            "deterministic": True,
            "folds_file": folds_file,
            "early_stopping_patience": 2,
            **kw,
        },
    )
    run_kfold(cfg, str(out), fold=FOLD, log=lambda *a: None)
    return open(os.path.join(out, f"fold_{FOLD}", "val_predictions.csv"), "rb").read()


@pytest.fixture(scope="module")
def pair(tiny_run, tiny_data, tmp_path_factory):
    folds_file = os.path.join(tiny_run[0], "folds.csv")
    other = _relabelled(tiny_data, str(tmp_path_factory.mktemp("relabel") / "data"), folds_file)
    return tiny_data, other, folds_file


@pytest.mark.slow  # 8 s each; the inner split itself is checked fast below
@pytest.mark.parametrize("monitor", ["val_macro_f1", "val_loss"])
def test_the_scored_folds_labels_cannot_change_its_predictions(pair, tmp_path, monitor):
    data, relabelled, folds_file = pair
    a = _fold_predictions(data, tmp_path / "a", folds_file, monitor=monitor)
    b = _fold_predictions(relabelled, tmp_path / "b", folds_file, monitor=monitor)
    assert a == b  # bit-identical: the selection set is drawn from the training folds
    select = open(tmp_path / "a" / f"fold_{FOLD}" / "inner_val.csv").read().split()[1:]
    scored = [line.split(",")[0] for line in a.decode().splitlines()[1:]]
    assert select and not set(select) & set(scored)


@pytest.mark.slow
def test_the_same_check_catches_peeking(pair, tmp_path):
    # The test of the test: choosing the epoch on the scored fold (seed 002's way) lets its
    # labels change its predictions.
    data, relabelled, folds_file = pair
    a = _fold_predictions(data, tmp_path / "a", folds_file, selection="peek", monitor="val_loss")
    b = _fold_predictions(
        relabelled, tmp_path / "b", folds_file, selection="peek", monitor="val_loss"
    )
    assert a != b


@pytest.mark.slow
def test_peek_is_labelled_optimistic_everywhere(tiny_data, tmp_path):
    from gapnet.report.run_report import write_report
    from gapnet.report.tables import caption, summary_table

    cfg = Config(data=tiny_data, **{**TINY, "folds": 2, "selection": "peek"})
    m = run_kfold(cfg, str(tmp_path), log=lambda *a: None)
    label = "epoch chosen on the scored fold (optimistic)"
    assert m["selection_label"] == label and label in caption(m)
    write_report(str(tmp_path), log=lambda *a: None)
    for page in ("report.md", "report.html"):
        assert label in open(tmp_path / "report" / page).read()
    assert summary_table(m).splitlines()[0].startswith("| | n | cross-fitted (honest) |")


@pytest.mark.slow
def test_last_keeps_the_last_epoch_and_refuses_early_stopping(tiny_data, tmp_path):
    import keras

    with pytest.raises(ValueError, match="selection='last'"):
        Config(selection="last", early_stopping_patience=5).check()
    from gapnet.report.run_report import write_report

    cfg = Config(
        data=tiny_data,
        **{
            **TINY,
            "folds": 2,
            "epochs": 2,
            "selection": "last",
            "early_stopping_patience": 0,
            "deterministic": True,
        },
    )
    m = run_kfold(cfg, str(tmp_path), log=lambda *a: None)
    assert m["selection_label"] == "last epoch (no selection)"
    write_report(str(tmp_path), log=lambda *a: None)  # history without validation columns
    assert (tmp_path / "report" / "training_curves.png").stat().st_size > 5000
    fold = tmp_path / "fold_0"
    assert not (fold / "inner_val.csv").exists()
    history = [line.split(",") for line in open(fold / "history.csv").read().splitlines()]
    val = [i for i, c in enumerate(history[0]) if c.startswith("val_")]
    assert len(history) == 3 and all(row[i] == "NA" for row in history[1:] for i in val)
    model = keras.saving.load_model(fold / "model.keras")
    assert int(model.optimizer.iterations) == 2 * -(-15 // 8)  # saved after the last epoch


def test_inner_split_is_stratified_seeded_and_keeps_copies_out():
    from gapnet.cv.folds import inner_split

    rng = np.random.default_rng(0)
    targets = (rng.random((400, 28)) < 0.1).astype(np.uint8)
    train = np.arange(400)[rng.random(400) < 0.7]
    fit, select = inner_split(targets, train, 0.1, seed=3)
    assert set(fit) | set(select) == set(train) and not set(fit) & set(select)
    assert abs(len(select) - 0.1 * len(train)) <= 2
    again = inner_split(targets, train, 0.1, seed=3)
    assert np.array_equal(again[1], select) and not np.array_equal(
        inner_split(targets, train, 0.1, seed=4)[1], select
    )

    # Per class, the selection set holds about a tenth of the positives: closer than random
    # draws of the same size come.
    def spread(pick):
        return np.abs(targets[pick].sum(0) - targets[train].sum(0) * len(pick) / len(train)).mean()

    random = np.mean([spread(rng.choice(train, len(select), replace=False)) for _ in range(50)])
    assert spread(select) < 0.7 * random
    # Augmented copies: never selected, and the copies of a selected original do not train.
    groups = np.array([f"s{i}" for i in range(300)] + [f"s{i % 50}" for i in range(100)])
    copy = np.arange(400) >= 300
    fit, select = inner_split(targets, np.arange(400), 0.1, 0, groups, copy)
    assert not copy[select].any()
    assert not set(groups[fit]) & set(groups[select])
    assert len(fit) + len(select) + int(np.isin(groups[copy], groups[select]).sum()) == 400


def test_each_selection_rule_has_its_label_in_the_printed_caption(tiny_run):
    from gapnet.cv.evaluate import selection_label
    from gapnet.report.tables import caption

    labels = {s: selection_label(Config(selection=s)) for s in ("inner", "last", "peek")}
    assert labels["peek"] == "epoch chosen on the scored fold (optimistic)"
    assert len(set(labels.values())) == 3
    assert selection_label(Config(model="logreg")) == "no epochs (scikit-learn baseline)"
    m = tiny_run[1]
    assert m["selection_label"] == labels["inner"] and labels["inner"] in caption(m)
