"""Test-set predictions of a finished run: fold models averaged, thresholds, Kaggle submission.

Rule for a sample with no class above its threshold: it gets its most probable class
(Kaggle's metric scores an empty prediction as a miss on every true label, and every HPA
sample has at least one label). `decide` is the pure function that applies it.
"""

from __future__ import annotations

import os

import numpy as np

from gapnet.config import Config
from gapnet.cv.runfolder import RunError, fold_done
from gapnet.io import atomic_write_text, read_json
from gapnet.thresholds import decide as rule


def decide(probs: np.ndarray, thresholds, fallback: str = "top") -> list[list[int]]:
    """Labels per sample: every class strictly above its threshold; a row with none gets
    its most probable class (fallback "top") or stays empty (fallback "none")."""
    above = rule(probs, thresholds)
    labels = [np.flatnonzero(row).tolist() for row in above]
    if fallback == "top":
        for n, row in enumerate(labels):
            if not row:
                row.append(int(np.argmax(probs[n])))
    return labels


def fold_models(run: str) -> list[str]:
    """The finished fold models of a run folder, in fold order."""
    folds = sorted(
        int(d.split("_")[1])
        for d in os.listdir(run)
        if d.startswith("fold_") and os.path.isdir(os.path.join(run, d))
    )
    unfinished = [k for k in folds if not fold_done(os.path.join(run, f"fold_{k}"))]
    if not folds or unfinished:
        raise RunError(f"{run}: folds {unfinished or '(none)'} have not finished training")
    paths = [os.path.join(run, f"fold_{k}", "model.keras") for k in folds]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise RunError(
            f"no Keras model at {missing[0]} (scikit-learn baselines do not predict test sets)"
        )
    return paths


def predict_test(
    run: str, root: str, tta: str | None = None, batch_size: int | None = None, log=print
) -> tuple[list[str], np.ndarray]:
    """Ids in sample_submission.csv order and fold-averaged probabilities (n, 28): the
    Kaggle 2018 test set and a 28-class run (a 2021 run: `gapnet.single_cell.predict`).

    Raises:
        gapnet.data.labels.DataError: the test split has bad or missing files (all listed).
        RunError: the run or the test set is not in the 28-class scheme.
    """
    from gapnet.data.cache import open_reader
    from gapnet.data.validate import check_or_raise, validate
    from gapnet.training.predict import load_model, predict

    cfg = Config.from_file(os.path.join(run, "config.json"))
    paths = fold_models(run)
    from gapnet.data.source import open_source

    test = open_source(root, "test")  # the CSV only: refuse before decoding any image
    width = len(run_thresholds(run))
    if width != 28 or test.labels.targets.shape[1] != 28:
        from gapnet.cv.runfolder import RunError

        raise RunError(
            f"{run} predicts {width} classes and {root} is a "
            f"{test.labels.scheme} test set: the 2018 submission needs 28; a 2021 "
            "(19-class) run writes its "
            "submission with --format hpa2021"
        )
    report = validate(root, "test", cfg.image_size, progress=False)
    ids = check_or_raise(report, skip_bad=False, log=log)
    reader = open_reader(report.source, ids, cfg.image_size, cfg.cache, log)
    tta = tta or cfg.tta
    log(f"predicting {len(ids)} test samples with {len(paths)} fold models (TTA {tta})")
    total = np.zeros((len(ids), 1), np.float64)  # widens to the model's classes
    for path in paths:
        model = load_model(path)
        total = total + predict(
            model, reader, np.arange(len(ids)), batch_size or cfg.batch_size, tta
        )
    return list(ids), (total / len(paths)).astype(np.float32)


def run_thresholds(run: str) -> np.ndarray:
    """The per-class thresholds tuned on the run's out-of-fold predictions."""
    return np.asarray(read_json(os.path.join(run, "thresholds.json"))["thresholds"], np.float32)


def write_submission(path: str, ids, labels) -> None:
    rows = [f"{i},{' '.join(str(k) for k in row)}" for i, row in zip(ids, labels, strict=True)]
    atomic_write_text(path, "Id,Predicted\n" + "\n".join(rows) + "\n")
