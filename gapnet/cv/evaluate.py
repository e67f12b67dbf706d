"""Scoring out-of-fold predictions: thresholds and every metric of a run, pure functions.

The headline figure (`macro_f1`) is at cross-fitted thresholds: each fold's thresholds are
tuned on the other folds' OOF predictions, so no threshold saw the samples it scores.
Figures at thresholds tuned on all OOF predictions are kept as `*_tuned` (optimistic), and
at 0.5. Every run also states how its epochs were chosen (`selection_label`).
"""

from __future__ import annotations

import numpy as np

from gapnet import metrics, thresholds
from gapnet.config import Config
from gapnet.schemes import scheme_of_width

N_BOOT = 1000  # bootstrap resamples of the headline interval


SELECTION_LABELS = {
    "inner": "epoch chosen on an inner selection set of the training folds",
    "last": "last epoch (no selection)",
    "peek": "epoch chosen on the scored fold (optimistic)",
}


def selection_label(cfg: Config) -> str:
    """How the predicting epoch was chosen, as every table of the run states it."""
    from gapnet import models

    if not models.spec(cfg.model).network:
        return "no epochs (scikit-learn baseline)"
    return SELECTION_LABELS[cfg.selection]


THRESHOLD_RULES = {
    "macro_f1": "cross-fitted: each fold's thresholds tuned on the other folds' "
    "predictions (honest; the headline)",
    "macro_f1_tuned": "tuned on the same out-of-fold predictions they score (optimistic)",
    "macro_f1_at_0.5": "0.5 for every class (no tuning)",
}


def evaluate_oof(cfg: Config, targets, folds, oof, synthetic: bool, n_copies: int = 0) -> dict:
    """Thresholds (tuned on all OOF and cross-fitted per fold) and every metric.

    The headline keys (`macro_f1`, `micro_f1`, `per_class`, `macro_f1_support_ge10`) are
    at cross-fitted thresholds; `*_tuned` ones at thresholds tuned on the scored
    predictions themselves (optimistic); `*_at_0.5` at 0.5.
    """
    kw = dict(step=cfg.threshold_step, fixed=cfg.threshold_fixed)
    tuned = thresholds.fit(cfg.threshold_strategy, targets, oof, **kw)
    cross = thresholds.crossfit(cfg.threshold_strategy, targets, oof, folds, **kw)
    at_half = metrics.evaluate(targets, oof, 0.5)
    at_tuned = metrics.evaluate(targets, oof, tuned)
    at_cross = metrics.evaluate(targets, oof, cross)
    frequent = np.flatnonzero(targets.sum(0) >= 10)
    per_fold = []
    for k in sorted(set(folds.tolist())):
        m = folds == k
        per_fold.append(
            {
                "fold": int(k),
                "n": int(m.sum()),
                "macro_f1": metrics.macro_f1(targets[m], thresholds.decide(oof[m], cross[m])),
                "macro_f1_tuned": metrics.macro_f1(targets[m], thresholds.decide(oof[m], tuned)),
                "macro_f1_at_0.5": metrics.macro_f1(targets[m], thresholds.decide(oof[m], 0.5)),
            }
        )
    spread = {
        key: {
            "mean": float(np.mean([f[key] for f in per_fold])),
            "std": float(np.std([f[key] for f in per_fold], ddof=1)),
        }
        for key in THRESHOLD_RULES
    }
    ge10 = (
        (lambda pred: metrics.macro_f1(targets, pred, frequent))
        if len(frequent)
        else (lambda pred: None)
    )
    summary = {
        "data": "synthetic atlas (not HPA scores)" if synthetic else "real data",
        "synthetic": bool(synthetic),  # read by the report, compare.py and the model card
        "scheme": scheme_of_width(targets.shape[1]).name,  # the label set (gapnet.schemes)
        "n_classes": int(targets.shape[1]),
        "n_samples": len(targets),
        "n_copies_trained": n_copies,
        "copies_scored": 0,
        "selection": cfg.selection,
        "selection_label": selection_label(cfg),
        "threshold_rules": {**THRESHOLD_RULES, "strategy": cfg.threshold_strategy},
        "macro_f1": at_cross["macro_f1"],
        "macro_f1_ci95": list(metrics.bootstrap_ci(targets, thresholds.decide(oof, cross), N_BOOT)),
        "macro_f1_ci95_method": f"basic bootstrap over samples, {N_BOOT} resamples",
        "macro_f1_tuned": at_tuned["macro_f1"],
        "macro_f1_at_0.5": at_half["macro_f1"],
        "micro_f1": at_cross["micro_f1"],
        "micro_f1_tuned": at_tuned["micro_f1"],
        "macro_f1_support_ge10": ge10(thresholds.decide(oof, cross)),
        "macro_f1_support_ge10_tuned": ge10(thresholds.decide(oof, tuned)),
        "classes_support_ge10": frequent.tolist(),
        "per_class": at_cross["per_class"],
        "per_class_tuned": at_tuned["per_class"],
        "per_fold": per_fold,
        "fold_spread": spread,
        "at_0.5": _scalars(at_half),
        "tuned": _scalars(at_tuned),
        "crossfit": _scalars(at_cross),
    }
    thr = {
        "strategy": cfg.threshold_strategy,
        "tuned_on": "all out-of-fold predictions",
        "thresholds": tuned.tolist(),
        "crossfit": {str(k): cross[folds == k][0].tolist() for k in sorted(set(folds.tolist()))},
    }
    return {"metrics": summary, "thresholds": thr}


def _scalars(m: dict) -> dict:
    return {k: v for k, v in m.items() if not isinstance(v, (dict, list))}
