"""Seed 000's non-deep baselines on 64x64x4 downsampled, standardized images (scikit-learn).

- `logreg`: one-vs-rest L2 logistic regression; C is picked from a grid on an inner 80/20
  split of the training fold by macro ROC-AUC, then refitted on the whole training fold.
- `random_forest`: a multi-output random forest (trees and minimum leaf size configurable).

Both run through `experiments/run_kfold.py --model logreg|random_forest` with the same
folds and the same run-folder files as the networks (the fold model is `model.joblib`).
A baseline that scores close to a CNN means the task is solvable from intensity alone.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gapnet.models import register

FEATURE_SIZE = 64
C_GRID = (1e-4, 1e-3, 1e-2)


def features(reader, indices) -> np.ndarray:
    """Flattened uint8 images (n, 64*64*C) as float32 (reader must read at 64 px)."""
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        imgs = list(pool.map(lambda i: reader(int(i)), indices))
    return np.stack(imgs).reshape(len(imgs), -1).astype(np.float32) / 255.0


def _probs(model, x) -> np.ndarray:
    p = model.predict_proba(x)
    if isinstance(p, list):  # multi-output forest: one (n, n_seen_labels) array per class
        return np.stack([q[:, 1] if q.shape[1] == 2 else np.zeros(len(x)) for q in p], 1)
    return p


@register("logreg", network=False)
def build_logreg(input_shape=None, n_classes: int = 28, C: float = 1.0, seed: int = 0):
    """One-vs-rest logistic regression on standardized pixels (the shape is not used)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(),
        OneVsRestClassifier(
            LogisticRegression(C=C, max_iter=300, random_state=seed), n_jobs=os.cpu_count()
        ),
    )


@register("random_forest", network=False)
def build_random_forest(
    input_shape=None,
    n_classes: int = 28,
    n_estimators: int = 300,
    min_samples_leaf: int = 2,
    seed: int = 0,
):
    """A multi-output random forest on pixels (the shape is not used)."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=n_estimators,
        min_samples_leaf=min_samples_leaf,
        max_features="sqrt",
        n_jobs=-1,
        random_state=seed,
    )


def _pick_c(x, y, seed: int, grid=C_GRID) -> float:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    inner = rng.random(len(x)) < 0.8
    valid = [
        c
        for c in range(y.shape[1])
        if 0 < y[~inner, c].sum() < (~inner).sum() and 0 < y[inner, c].sum() < inner.sum()
    ]
    best, best_c = -1.0, grid[0]
    for C in grid:
        model = build_logreg(C=C, seed=seed).fit(x[inner], y[inner])
        p = _probs(model, x[~inner])
        auc = roc_auc_score(y[~inner][:, valid], p[:, valid], average="macro") if valid else 0
        if auc > best:
            best, best_c = auc, C
    return best_c


def fit_predict(
    name: str, reader, targets, train_idx, val_idx, fold_dir: str, seed: int, **kwargs
) -> np.ndarray:
    """Fits baseline `name` on the training fold, saves it, returns validation probabilities."""
    import warnings

    import joblib

    x_tr, x_va = features(reader, train_idx), features(reader, val_idx)
    y_tr = np.asarray(targets)[train_idx]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # classes absent from a fold: constant predictors
        if name == "logreg":
            C = kwargs.pop("C", None) or _pick_c(x_tr, y_tr, seed)
            model = build_logreg(C=C, seed=seed).fit(x_tr, y_tr)
        else:
            model = build_random_forest(seed=seed, **kwargs).fit(x_tr, y_tr)
    os.makedirs(fold_dir, exist_ok=True)
    joblib.dump(model, os.path.join(fold_dir, "model.joblib"))
    return _probs(model, x_va).astype(np.float32)
