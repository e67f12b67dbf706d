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


def bca_quantiles(boots, point: float, jack, level: float = 0.95):
    """(the two quantile levels of the BCa interval, z0, a) from bootstrap values, the
    point estimate and leave-one-out jackknife values (Efron 1987; SciPy's convention:
    z0 from the share of resamples below the point, ties counted half; a = sum(d^3) /
    (6 sum(d^2)^1.5), d = mean(jack) - jack). Non-finite values are ignored. When every
    resample lies on one side of the point, z0 is infinite and BCa undefined: the
    percentile levels are returned (z0 = nan) and a RuntimeWarning says so."""
    import warnings

    from scipy.stats import norm

    boots = np.asarray(boots, np.float64)
    boots = boots[np.isfinite(boots)]
    q = np.array([(1 - level) / 2, (1 + level) / 2])
    if not (np.isfinite(point) and len(boots)):  # no estimate: a NaN interval (callers)
        return np.array([np.nan, np.nan]), float("nan"), float("nan")
    below = np.mean(boots < point) + 0.5 * np.mean(boots == point)
    if not 0 < below < 1:
        warnings.warn(
            "BCa undefined: every resample lies on one side of the estimate; "
            "the percentile interval is given",
            RuntimeWarning,
            stacklevel=3,
        )
        return q, float("nan"), float("nan")
    z0 = float(norm.ppf(below))
    jack = np.asarray(jack, np.float64)
    jack = jack[np.isfinite(jack)]
    d = jack.mean() - jack if len(jack) else np.zeros(1)
    denom = 6 * np.sum(d**2) ** 1.5
    a = float(np.sum(d**3) / denom) if denom > 0 else 0.0
    z = norm.ppf(q)
    return norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z))), z0, a


def _interval(boots, quantiles) -> tuple[float, float]:
    boots = np.asarray(boots, np.float64)
    boots = boots[np.isfinite(boots)]
    if not len(boots) or not np.isfinite(quantiles).all():
        return float("nan"), float("nan")
    lo, hi = np.quantile(boots, quantiles)
    return float(lo), float(hi)


BOOT_BLOCK = 50  # bootstrap resamples drawn and scored at a time
METHODS = ("basic", "bca", "percentile")
# The default: the interval whose coverage of the population value came nearest 95 % in
# benchmarks/single_cell_coverage.py (docs/evaluation.md), for the headline macro-F1 and
# the single-cell figures alike.
DEFAULT_METHOD = "basic"


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")


def _basic(point: float, lo: float, hi: float) -> tuple[float, float]:
    """The basic (reverse percentile) interval: the percentile bounds reflected about the
    estimate, (2 x point - hi, 2 x point - lo)."""
    return float(2 * point - hi), float(2 * point - lo)


def bootstrap_ci(
    y_true,
    y_pred,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    classes=None,
    method: str = DEFAULT_METHOD,
) -> tuple[float, float]:
    """Bootstrap interval of the macro-F1, resampling samples with replacement.

    The predictions (thresholds included) are fixed; only which samples are scored varies.
    Vectorized: each resample is a row of multiplicities, so the per-class counts of a
    block of `BOOT_BLOCK` resamples are one matrix product. method "basic" (default) is
    the basic interval (the percentile bounds reflected about the estimate), "bca" the
    bias-corrected and accelerated interval, its acceleration from the leave-one-sample-out
    jackknife (also vectorized), "percentile" the plain percentile interval (see
    `grouped_bootstrap` for why basic is the default).
    """
    _check_method(method)
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    cols = slice(None) if classes is None else np.asarray(classes)
    n = len(y_true)
    rng = np.random.default_rng(seed)
    kinds = [y_true & y_pred, ~y_true & y_pred, y_true & ~y_pred]
    counts = [k.astype(np.float64) for k in kinds]

    def macro(tp, fp, fn):
        return _div(2 * tp, 2 * tp + fp + fn)[..., cols].mean(-1)

    # BOOT_BLOCK resamples at a time (the same draws as one (n_boot, n) matrix, which
    # at 31,072 samples is 250 MB): memory flat in n_boot
    boots = np.concatenate(
        [
            macro(*(w @ c for c in counts))
            for w in (
                rng.multinomial(n, np.full(n, 1 / n), size=min(BOOT_BLOCK, n_boot - b)).astype(
                    np.float64
                )
                for b in range(0, n_boot, BOOT_BLOCK)
            )
        ]
    )
    quantiles = np.array([(1 - level) / 2, (1 + level) / 2])
    point = float(macro(*(k.sum(0) for k in kinds)))
    if method == "basic":
        return _basic(point, *_interval(boots, quantiles))
    if method == "bca" and n > 2:
        jack = jackknife_macro_f1(y_true, y_pred, classes)
        quantiles = bca_quantiles(boots, point, jack, level)[0]
    return _interval(boots, quantiles)


def jackknife_macro_f1(y_true, y_pred, classes=None) -> np.ndarray:
    """(n,) the macro-F1 with sample i left out, for every i (vectorized)."""
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    cols = slice(None) if classes is None else np.asarray(classes)
    kinds = [y_true & y_pred, ~y_true & y_pred, y_true & ~y_pred]
    tp, fp, fn = (k.sum(0) - k for k in kinds)  # row i: counts without sample i
    return _div(2 * tp, 2 * tp + fp + fn)[..., cols].mean(-1)


def grouped_bootstrap(
    score,
    groups,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    method: str = DEFAULT_METHOD,
):
    """score(every row) and its bootstrap interval, resampling whole groups.

    score(rows) -> float takes an index array of rows (with repeats); groups gives each
    row's group (an image, whose rows - cells, labels - are resampled together, so that
    rows that are not independent do not narrow the interval). Pure and seeded.

    method "basic" (default): the percentile bounds reflected about the estimate. A
    macro-F1 or a pooled mAP over few images is biased on resamples (a rare class drawn
    without its positives scores 0; a class absent from a resample leaves the mean), so
    the percentile interval sits off the estimate, and BCa's bias correction, driven by
    the share of resamples on one side, pushes its interval to end at the estimate; by
    simulation (benchmarks/single_cell_coverage.py, docs/evaluation.md) the basic interval
    held the population value most often of the three, for these figures and the
    headline's, though under 95 % with few images. "bca": the bias-corrected and
    accelerated interval (Efron 1987), its acceleration from the leave-one-group-out
    jackknife. "percentile": the plain percentile interval. Returns (point, (lo, hi)).
    """
    _check_method(method)
    groups = np.asarray(groups)
    ids, inverse = np.unique(groups, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    rows_of = np.split(order, np.cumsum(np.bincount(inverse))[:-1])
    rng = np.random.default_rng(seed)
    point = float(score(np.arange(len(groups))))
    boots = np.array(
        [
            score(np.concatenate([rows_of[g] for g in rng.integers(0, len(ids), len(ids))]))
            for _ in range(n_boot)
        ],
        np.float64,
    )
    quantiles = np.array([(1 - level) / 2, (1 + level) / 2])
    if method == "basic":
        return point, _basic(point, *_interval(boots, quantiles))
    if method == "bca" and len(ids) > 2:
        jack = [score(np.concatenate(rows_of[:g] + rows_of[g + 1 :])) for g in range(len(ids))]
        quantiles = bca_quantiles(boots, point, jack, level)[0]
    return point, _interval(boots, quantiles)


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
