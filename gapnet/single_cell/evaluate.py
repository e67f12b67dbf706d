"""Scoring per-cell methods against true cells: mAP@0.6 (both conventions) with basic
bootstrap intervals over images, the gain of one method over another on the same resamples, the
per-class AP table, and per-cell macro-F1 at tuned and cross-fitted thresholds. Pure.

Per-cell macro-F1 scores the predicted cells matched one to one to a true cell at IoU >=
0.6 (`gapnet.segment.match`, Hungarian), each taking that cell's true labels; unmatched
predicted and true cells are left out (mAP counts them). Thresholds per class by the F1
search (`gapnet.thresholds`): "cross-fitted", each image fold's cells at thresholds tuned
on the other folds' cells (the honest figure); "tuned", on every scored cell (optimistic).
Classes with no matched true cell have no F1 and are left out of the mean.
"""

from __future__ import annotations

import numpy as np

from gapnet import metrics, thresholds
from gapnet.single_cell.metric import CONVENTIONS, image_hits, pooled_map

N_BOOT = 1000


def hits_of(truth, masks, scores, rows, iou: float = 0.6) -> list:
    """Per image the `image_hits` of one method: truth [(cells, labels)], masks (the
    predicted cells), scores (n_cells, C), rows (each image's slice of scores)."""
    return [
        image_hits(t_cells, t_labels, masks[n], scores[rows[n]], iou)
        for n, (t_cells, t_labels) in enumerate(truth)
    ]


def map_table(hits: dict, base: str = "image", best: str = "image_x_cell", n_boot=N_BOOT):
    """mAP@0.6 of every method (hits: {method: per-image hits}) under both conventions,
    with basic bootstrap intervals over images, per-class AP, and `best` minus `base` on the same
    resamples. Keys: "map", "map_ci95", "per_class" ({method/convention: [AP]}), "n_true",
    "gain" and "gain_ci95" ({convention: ...})."""
    n = len(next(iter(hits.values())))
    groups = np.arange(n)
    out = {"map": {}, "map_ci95": {}, "per_class": {}, "gain": {}, "gain_ci95": {}}
    for conv in CONVENTIONS:
        for m, h in hits.items():
            point, ci = metrics.grouped_bootstrap(
                lambda r, h=h, c=conv: pooled_map([h[i] for i in r], c)["map"], groups, n_boot
            )
            full = pooled_map(h, conv)
            out["map"][f"{m}/{conv}"] = point
            out["map_ci95"][f"{m}/{conv}"] = list(ci)
            out["per_class"][f"{m}/{conv}"] = full["per_class"]
            out["n_true"] = full["n_true"]
        if base in hits and best in hits:
            d, ci = metrics.grouped_bootstrap(
                lambda r, c=conv: (
                    pooled_map([hits[best][i] for i in r], c)["map"]
                    - pooled_map([hits[base][i] for i in r], c)["map"]
                ),
                groups,
                n_boot,
            )
            out["gain"][conv], out["gain_ci95"][conv] = d, list(ci)
    return out


def matched_cells(truth, masks, rows, iou: float = 0.6):
    """(score rows, true labels (m, C) bool, image of each) of the predicted cells matched
    one to one to true cells at IoU >= iou."""
    from gapnet.segment.match import match

    idx, labels, image = [], [], []
    for n, (t_cells, t_labels) in enumerate(truth):
        start = rows[n].start
        for p, t in match(masks[n], t_cells, iou).pairs:
            idx.append(start + p - 1)
            labels.append(np.asarray(t_labels[t - 1], bool))
            image.append(n)
    c = np.shape(truth[0][1])[1] if truth else 0
    return (
        np.asarray(idx, np.int64),
        np.asarray(labels, bool).reshape(-1, c),
        np.asarray(image, np.int64),
    )


def cell_f1(y, s, image, image_folds, n_boot=N_BOOT) -> dict:
    """Per-cell macro-F1 of scores s (m, C) against labels y (m, C) at cross-fitted (by
    the images' folds) and tuned thresholds, with a basic bootstrap interval over images for the
    cross-fitted figure."""
    folds = np.asarray(image_folds)[image]
    classes = np.flatnonzero(y.sum(0) > 0)
    cross = thresholds.crossfit("f1_search", y, s, folds, step=0.01)
    tuned = thresholds.fit("f1_search", y, s, step=0.01)
    pred_c, pred_t = s > cross, s > tuned
    point, ci = metrics.grouped_bootstrap(
        lambda r: metrics.macro_f1(y[r], pred_c[r], classes), image, n_boot
    )
    return {
        "macro_f1": point,
        "macro_f1_ci95": list(ci),
        "macro_f1_tuned": metrics.macro_f1(y, pred_t, classes),
        "n_cells": int(len(y)),
        "classes": classes.tolist(),
    }
