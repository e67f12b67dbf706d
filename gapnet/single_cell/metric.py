"""The HPA 2021 Single-Cell Classification metric: mAP over the classes, each predicted
cell matched to a true cell at IoU >= 0.6, scored like the Open Images instance
segmentation challenge. Pure NumPy.

Per image and class c, the predictions of c are taken in descending confidence; each is
compared with the true cell of class c it overlaps most (IoU); it is a true positive when
that IoU is at least `iou` and that cell is not matched yet, else a false positive (a
second prediction on a matched cell, a mask that misses). True positives and false
positives of all images are then pooled and sorted by confidence (ties keep the images'
order), and the class's AP is the area under the precision-recall curve with precision
made monotone (Open Images' / VOC 2010's rule): the sum over recall steps of the step
times the best precision at that recall or beyond. Classes without a true cell in the
scored images have no AP and are left out of the mean (listed in `classes_scored`).

Two conventions for which images score class c (print both):
- "all": every image; a prediction of c in an image without c is a false positive.
- "present": only images whose truth holds c (HPA's re-scoring code): predictions of c in
  other images are ignored.

Truth per image: a cell label image (H, W; 0 = background) and a (n, C) boolean matrix,
row i the labels of cell i + 1 (a Negative cell has the Negative class). Predictions per
image: a cell label image and a (m, C) confidence matrix, row i for predicted cell i + 1;
NaN means "no prediction of that class for that cell" (a submission lists only some).
"""

from __future__ import annotations

import numpy as np

from gapnet.segment.match import iou_matrix

CONVENTIONS = ("all", "present")


def image_hits(true_cells, true_labels, pred_cells, pred_scores, iou_min: float = 0.6):
    """Per class, the (scores, is-true-positive) of one image's predictions, and its count
    of true cells per class: the matching of one image, which `pooled_map` pools (so a
    bootstrap over images matches each image once)."""
    true_labels = np.asarray(true_labels, bool)
    pred_scores = np.asarray(pred_scores, np.float64)
    n_classes = true_labels.shape[1] if true_labels.ndim == 2 else pred_scores.shape[1]
    iou, p_ids, t_ids = iou_matrix(pred_cells, true_cells)
    if len(t_ids) and t_ids.max() > len(true_labels):
        raise ValueError(f"true cell {t_ids.max()} has no row in its {len(true_labels)} labels")
    if len(p_ids) and p_ids.max() > len(pred_scores):
        raise ValueError(
            f"predicted cell {p_ids.max()} has no row in its {len(pred_scores)} scores"
        )
    t_lab = (
        true_labels[t_ids - 1] if len(t_ids) else np.zeros((0, n_classes), bool)
    )  # labels of the true cells present in the image
    p_sc = pred_scores[p_ids - 1] if len(p_ids) else np.zeros((0, n_classes))
    hits = []
    for c in range(n_classes):
        scores = p_sc[:, c]
        has = np.flatnonzero(np.isfinite(scores))
        order = has[np.argsort(-scores[has], kind="stable")]
        cand = np.flatnonzero(t_lab[:, c])
        matched = np.zeros(len(cand), bool)
        tp = np.zeros(len(order), bool)
        if len(cand):
            for n, p in enumerate(order):
                j = int(np.argmax(iou[p, cand]))
                if iou[p, cand[j]] >= iou_min and not matched[j]:
                    matched[j] = tp[n] = True
        hits.append((scores[order], tp))
    return hits, t_lab.sum(0)


def average_precision(scores, tp, n_true: int) -> float:
    """Open Images AP of pooled predictions: (confidences, true-positive flags) against
    n_true true cells; NaN when n_true is 0."""
    if n_true == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    tp = np.asarray(tp, bool)[order]
    if not len(tp):
        return 0.0
    tps, fps = np.cumsum(tp), np.cumsum(~tp)
    recall = np.concatenate([[0.0], tps / n_true])
    precision = np.concatenate([[0.0], tps / (tps + fps)])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # best precision at or beyond
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def mean_average_precision(truth, predictions, iou: float = 0.6, convention: str = "all"):
    """mAP@iou of per-image predictions against per-image truth (lists in the same image
    order: (cells, labels) and (cells, scores)).

    Returns a dict: `map` (mean over the classes scored), `per_class` (AP, NaN for a class
    not scored), `n_true` (true cells per class in the scored images), `classes_scored`,
    `convention`, `iou`.

    Raises:
        ValueError: an unknown convention, lists of different lengths, or an image whose
            two label images differ in size.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, not {convention!r}")
    if len(truth) != len(predictions):
        raise ValueError(f"{len(truth)} truth images but {len(predictions)} predicted")
    if not truth:
        raise ValueError("no images to score")
    hits = []
    for k, ((t_cells, t_labels), (p_cells, p_scores)) in enumerate(
        zip(truth, predictions, strict=True)
    ):
        if np.shape(t_cells) != np.shape(p_cells):
            raise ValueError(
                f"image {k}: predicted cells {np.shape(p_cells)}, true {np.shape(t_cells)}"
            )
        hits.append(image_hits(t_cells, t_labels, p_cells, p_scores, iou))
    return {**pooled_map(hits, convention), "iou": iou}


def pooled_map(hits, convention: str = "all") -> dict:
    """mAP of per-image `image_hits` results (a list; an image may repeat, as in a
    bootstrap resample). Returns `map`, `per_class`, `n_true`, `classes_scored`,
    `convention`."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, not {convention!r}")
    n_classes = len(hits[0][0])
    pooled = [([], []) for _ in range(n_classes)]
    n_true = np.zeros(n_classes, np.int64)
    for per_class, counts in hits:
        n_true += counts
        for c, (s, tp) in enumerate(per_class):
            if convention == "present" and counts[c] == 0:
                continue
            pooled[c][0].append(s)
            pooled[c][1].append(tp)
    per_class = np.array(
        [
            average_precision(np.concatenate(s) if s else [], np.concatenate(t) if t else [], n)
            for (s, t), n in zip(pooled, n_true, strict=True)
        ]
    )
    scored = np.flatnonzero(np.isfinite(per_class))
    return {
        "map": float(per_class[scored].mean()) if len(scored) else float("nan"),
        "per_class": per_class.tolist(),
        "n_true": n_true.tolist(),
        "classes_scored": scored.tolist(),
        "convention": convention,
    }
