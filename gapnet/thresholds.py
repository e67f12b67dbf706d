"""Per-class decision thresholds (pure NumPy): a sample is positive for class c when p > t_c.

Strategies:
- `f1_search` (seed 002): for each class, the threshold on a 0.001 grid that maximizes that
  class's F1 on the tuning predictions. Where several grid values tie, the median of them
  is taken (the middle of the best plateau, less fragile than its edge).
- `frequency` (the Kaggle winners' strategy): each class's threshold is set so that the
  share of tuning samples predicted positive equals the class frequency in the training
  labels.
- `fixed`: one threshold for every class (0.5 by default).

Fallback: a class with no positives in the tuning data gets `fallback` (default 0.5, the
untuned decision rule). It never gets 0, which would predict the label for every sample
(seed 002, section 3.1), nor 1, which would never predict it.

Honest estimates need thresholds tuned on other predictions than the ones scored:
`crossfit` tunes, for each fold, on the other folds' out-of-fold predictions.
"""

from __future__ import annotations

import numpy as np


def decide(y_prob, thresholds) -> np.ndarray:
    """The decision rule: class c is called when its probability is strictly above its
    threshold (compared in float64, as the tuner compares; p == t is not called)."""
    return np.asarray(y_prob, np.float64) > np.asarray(thresholds, np.float64)


def grid(step: float = 0.001) -> np.ndarray:
    n = int(round(1 / step))
    return np.arange(n) * step


def f1_curve(y_true, y_prob, thresholds) -> np.ndarray:
    """F1 of (y_prob > t) for every t in `thresholds`, for one class (vectorized)."""
    y_true = np.asarray(y_true, bool)
    y_prob = np.asarray(y_prob, np.float64)
    order = np.sort(y_prob)
    n, pos = len(y_prob), int(y_true.sum())
    # predicted positives at t: count of p > t
    pred_pos = n - np.searchsorted(order, thresholds, side="right")
    pos_scores = np.sort(y_prob[y_true])
    tp = pos - np.searchsorted(pos_scores, thresholds, side="right")
    denom = pred_pos + pos
    return np.divide(2.0 * tp, denom, out=np.zeros(len(thresholds)), where=denom > 0)


def search_f1(y_true, y_prob, step: float = 0.001, fallback: float = 0.5) -> np.ndarray:
    """Per-class thresholds maximizing F1 on a grid (seed 002)."""
    y_true, y_prob = np.asarray(y_true), np.asarray(y_prob)
    g = grid(step)
    out = np.full(y_true.shape[1], fallback, np.float64)
    for c in range(y_true.shape[1]):
        if y_true[:, c].sum() == 0:
            continue
        f1 = f1_curve(y_true[:, c], y_prob[:, c], g)
        best = np.flatnonzero(f1 >= f1.max() - 1e-12)
        out[c] = g[best[len(best) // 2]]
    return out


def match_frequency(y_prob, frequencies, fallback: float = 0.5) -> np.ndarray:
    """Thresholds giving each class a predicted-positive rate equal to `frequencies[c]`."""
    y_prob = np.asarray(y_prob, np.float64)
    out = np.full(y_prob.shape[1], fallback, np.float64)
    for c, f in enumerate(np.asarray(frequencies, np.float64)):
        if f <= 0:
            continue
        k = int(round(f * len(y_prob)))  # samples to predict positive
        if k <= 0:
            out[c] = np.nextafter(y_prob[:, c].max(), np.inf)
            continue
        s = np.sort(y_prob[:, c])[::-1]
        # midpoint between the k-th and (k+1)-th highest scores: exactly k above it
        out[c] = (s[k - 1] + s[k]) / 2 if k < len(s) else np.nextafter(s[-1], -np.inf)
    return out


def fit(strategy: str, y_true, y_prob, *, step=0.001, fixed=0.5, frequencies=None) -> np.ndarray:
    """Thresholds by `strategy` ("f1_search", "frequency" or "fixed") from tuning data."""
    n_classes = np.asarray(y_prob).shape[1]
    if strategy == "f1_search":
        return search_f1(y_true, y_prob, step, fallback=fixed)
    if strategy == "frequency":
        freq = np.asarray(y_true).mean(0) if frequencies is None else frequencies
        return match_frequency(y_prob, freq, fallback=fixed)
    if strategy == "fixed":
        return np.full(n_classes, fixed, np.float64)
    raise ValueError(f"Unknown threshold strategy {strategy!r}: f1_search, frequency or fixed")


def crossfit(strategy: str, y_true, y_prob, folds, **kwargs) -> np.ndarray:
    """Per-sample thresholds: each fold's come from the other folds' predictions.

    Returns:
        (n, n_classes) thresholds, row i tuned without sample i's fold.
    """
    y_true, y_prob, folds = np.asarray(y_true), np.asarray(y_prob), np.asarray(folds)
    out = np.empty(y_prob.shape, np.float64)
    for k in np.unique(folds):
        other = folds != k
        out[~other] = fit(strategy, y_true[other], y_prob[other], **kwargs)
    return out
