"""One-to-one matching of predicted and true label images (instance segmentation scoring).

`match(pred, truth, iou_min)` pairs objects by `scipy.optimize.linear_sum_assignment` on
their IoU; a pair counts when IoU >= iou_min. Every object is in at most one pair, so
TP + FP = predicted objects and TP + FN = true objects (never a negative count).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment


class Match(NamedTuple):
    tp: int
    fp: int
    fn: int
    pairs: list[tuple[int, int]]  # (predicted label, true label)
    ious: list[float]


def iou_matrix(pred: np.ndarray, truth: np.ndarray):
    """(IoU of every predicted object with every true object, predicted labels, true labels);
    labels are the nonzero values present, 0 is background."""
    pred, truth = np.asarray(pred).ravel(), np.asarray(truth).ravel()
    p_ids, p_inv = np.unique(pred, return_inverse=True)
    t_ids, t_inv = np.unique(truth, return_inverse=True)
    both = np.bincount(p_inv * len(t_ids) + t_inv, minlength=len(p_ids) * len(t_ids))
    both = both.reshape(len(p_ids), len(t_ids))
    area_p, area_t = both.sum(1), both.sum(0)
    keep_p, keep_t = p_ids != 0, t_ids != 0
    inter = both[keep_p][:, keep_t]
    union = area_p[keep_p, None] + area_t[None, keep_t] - inter
    return inter / np.maximum(union, 1), p_ids[keep_p], t_ids[keep_t]


def match(pred: np.ndarray, truth: np.ndarray, iou_min: float = 0.5) -> Match:
    """Objects matched one to one at IoU >= iou_min: the most pairs, and among those the
    largest total IoU."""
    iou, p_ids, t_ids = iou_matrix(pred, truth)
    pairs, ious = [], []
    if iou.size:
        # most pairs first, then the largest total IoU among those
        weight = np.where(iou >= iou_min, min(iou.shape) + 1 + iou, 0.0)
        rows, cols = linear_sum_assignment(weight, maximize=True)
        for r, c in zip(rows, cols, strict=True):
            if iou[r, c] >= iou_min and iou[r, c] > 0:
                pairs.append((int(p_ids[r]), int(t_ids[c])))
                ious.append(float(iou[r, c]))
    tp = len(pairs)
    return Match(tp, len(p_ids) - tp, len(t_ids) - tp, pairs, ious)
