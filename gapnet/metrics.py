"""Multi-label metrics: pure NumPy functions (the streaming Keras macro-F1 used in training
is `gapnet.training.macro_f1.MacroF1`).

Conventions (those of scikit-learn with `zero_division=0`, which the tests compare to):
a class with no positives and no predicted positives has F1 = 0 and counts in the macro
average; ROC-AUC and PR-AUC are averaged over the classes that have both labels in the
data (they are undefined for the others), and the classes used are reported.
"""

from __future__ import annotations

import numpy as np


def _counts(y_true: np.ndarray, y_pred: np.ndarray):
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    tp = (y_true & y_pred).sum(0).astype(np.float64)
    fp = (~y_true & y_pred).sum(0).astype(np.float64)
    fn = (y_true & ~y_pred).sum(0).astype(np.float64)
    return tp, fp, fn


def _div(a, b):
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def per_class_f1(y_true, y_pred) -> np.ndarray:
    tp, fp, fn = _counts(y_true, y_pred)
    return _div(2 * tp, 2 * tp + fp + fn)


def macro_f1(y_true, y_pred, classes=None) -> float:
    """Unweighted mean of the per-class F1 (the Kaggle HPA metric), over `classes` if given."""
    f1 = per_class_f1(y_true, y_pred)
    return float(f1.mean() if classes is None else f1[np.asarray(classes)].mean())


def bootstrap_ci(
    y_true, y_pred, n_boot: int = 1000, seed: int = 0, level: float = 0.95, classes=None
) -> tuple[float, float]:
    """Percentile bootstrap interval of the macro-F1, resampling samples with replacement.

    The predictions (thresholds included) are fixed; only which samples are scored varies.
    Vectorized: each resample is a row of multiplicities, so the per-class counts of all
    resamples are one matrix product.
    """
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    rng = np.random.default_rng(seed)
    w = rng.multinomial(len(y_true), np.full(len(y_true), 1 / len(y_true)), size=n_boot)
    w = w.astype(np.float64)
    tp = w @ (y_true & y_pred)
    fp = w @ (~y_true & y_pred)
    fn = w @ (y_true & ~y_pred)
    f1 = _div(2 * tp, 2 * tp + fp + fn)
    if classes is not None:
        f1 = f1[:, np.asarray(classes)]
    lo, hi = np.quantile(f1.mean(1), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def grouped_bootstrap(score, groups, n_boot: int = 1000, seed: int = 0, level: float = 0.95):
    """score(every row) and its percentile bootstrap interval, resampling whole groups.

    score(rows) -> float takes an index array of rows (with repeats); groups gives each
    row's group (an image, whose rows - cells, labels - are resampled together, so that
    rows that are not independent do not narrow the interval). Pure and seeded.
    Returns (point, (lo, hi)).
    """
    groups = np.asarray(groups)
    ids, inverse = np.unique(groups, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    rows_of = np.split(order, np.cumsum(np.bincount(inverse))[:-1])
    rng = np.random.default_rng(seed)
    point = float(score(np.arange(len(groups))))
    boots = [
        score(np.concatenate([rows_of[g] for g in rng.integers(0, len(ids), len(ids))]))
        for _ in range(n_boot)
    ]
    lo, hi = np.nanquantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return point, (float(lo), float(hi))


def classification_metrics(y_true, y_pred) -> dict:
    """Macro/micro precision, recall and F1, sample-averaged F1, Hamming loss, per class."""
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    tp, fp, fn = _counts(y_true, y_pred)
    precision, recall = _div(tp, tp + fp), _div(tp, tp + fn)
    f1 = _div(2 * tp, 2 * tp + fp + fn)
    T, F, N = tp.sum(), fp.sum(), fn.sum()
    s_tp = (y_true & y_pred).sum(1)
    s_f1 = _div(2.0 * s_tp, y_true.sum(1) + y_pred.sum(1))
    return {
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "micro_precision": float(T / (T + F)) if T + F else 0.0,
        "micro_recall": float(T / (T + N)) if T + N else 0.0,
        "micro_f1": float(2 * T / (2 * T + F + N)) if T + F + N else 0.0,
        "samples_f1": float(s_f1.mean()),
        "hamming_loss": float((y_true != y_pred).mean()),
        "per_class": {
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "support": y_true.sum(0).astype(int).tolist(),
        },
    }


def ranking_metrics(y_true, y_prob) -> dict:
    """Macro and micro ROC-AUC and PR-AUC (average precision) from probabilities."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y_true = np.asarray(y_true).astype(int)
    y_prob = np.asarray(y_prob, np.float64)
    pos = y_true.sum(0)
    valid = np.flatnonzero((pos > 0) & (pos < len(y_true)))
    out = {"auc_classes": valid.tolist()}
    if len(valid) == 0:
        return {
            **out,
            "macro_roc_auc": None,
            "micro_roc_auc": None,
            "macro_pr_auc": None,
            "micro_pr_auc": None,
        }
    t, p = y_true[:, valid], y_prob[:, valid]
    out["macro_roc_auc"] = float(roc_auc_score(t, p, average="macro"))
    out["micro_roc_auc"] = float(roc_auc_score(t, p, average="micro"))
    out["macro_pr_auc"] = float(average_precision_score(t, p, average="macro"))
    out["micro_pr_auc"] = float(average_precision_score(t, p, average="micro"))
    return out


def evaluate(y_true, y_prob, thresholds) -> dict:
    """Every metric of predictions `y_prob > thresholds` (per class, broadcast)."""
    y_prob = np.asarray(y_prob)
    y_pred = y_prob > np.asarray(thresholds)
    return {**classification_metrics(y_true, y_pred), **ranking_metrics(y_true, y_prob)}
