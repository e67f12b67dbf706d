"""Scoring helpers of benchmarks/localization.py: bootstrap intervals over images and the
segmentation against the synthetic atlas's truth (pure but for the segmentation itself)."""

import os
import sys

import numpy as np

from gapnet.metrics import grouped_bootstrap
from gapnet.segment import SegmentParams, read_mask, resize_labels, segment_cells
from gapnet.segment.match import match


def bootstrap_difference(score, a, b, groups, n_boot=1000, seed=0):
    """score(a) - score(b) and its bootstrap 95 % interval, resampling whole groups (images).

    a, b: per-row predictions (the rows of one group resampled together); score(rows, pred)
    gives the metric on the chosen rows. Pure and seeded.
    """
    return grouped_bootstrap(lambda rows: score(rows, a) - score(rows, b), groups, n_boot, seed)


def mean_ci(values, groups):
    """The mean of per-row values and its bootstrap 95 % interval over groups (images)."""
    v = np.asarray(values, np.float64)
    return grouped_bootstrap(lambda rows: np.nanmean(v[rows]), groups)


def detection_ci(counts, groups):
    """Detection F1 of per-image (tp, fp, fn) rows and its bootstrap interval over images."""
    c = np.asarray(counts, np.float64).reshape(-1, 3)

    def f1(rows):
        tp, fp, fn = c[rows].sum(0)
        return 2 * tp / max(2 * tp + fp + fn, 1)

    return grouped_bootstrap(f1, groups)


def fmt(point, ci, digits=3):
    return f"{point:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def segmentation_table(seg, size, run_size, result) -> None:
    """Prints the segmentation rows (detection F1 with its interval over images) into the
    open table and adds them to result."""
    names = {
        "nuclei": f"nuclei, at {size} px",
        "cells": f"cells, at {size} px",
        "nuclei_run_size": f"nuclei, at {run_size} px (explain on the default atlas)",
        "cells_run_size": f"cells, at {run_size} px (explain on the default atlas)",
    }
    for kind, (counts, groups, ious) in seg.items():
        f1, ci = detection_ci(counts, groups)
        result[f"{kind}_f1"], result[f"{kind}_f1_ci95"] = f1, list(ci)
        result[f"{kind}_iou"] = float(np.mean(ious)) if ious else 0.0
        n_true = int(sum(tp + fn for tp, _, fn in counts))
        print(f"| {names[kind]} | {fmt(f1, ci)} | {result[f'{kind}_iou']:.3f} | {n_true} |")


def score_segmentation(seg, sid, full, image, truth_dir, size, run_size) -> None:
    """Adds one sample's segmentation counts at --size (full) and at the run's size (image)."""
    t_cells = read_mask(os.path.join(truth_dir, f"{sid}_cells.png"))
    t_nuc = read_mask(os.path.join(truth_dir, f"{sid}_nuclei.png"))
    cells, nuclei = segment_cells(full, SegmentParams(nucleus_diameter=50 * size / 512))
    # explain segments a default-atlas file (written at the run's size) there
    cells_s, nuclei_s = segment_cells(image, SegmentParams(nucleus_diameter=50 * run_size / 512))
    small = (run_size, run_size)
    for kind, pred, true in (
        ("nuclei", nuclei, t_nuc),
        ("cells", cells, t_cells),
        ("nuclei_run_size", nuclei_s, resize_labels(t_nuc, small)),
        ("cells_run_size", cells_s, resize_labels(t_cells, small)),
    ):
        tp, fp, fn, _, ious = match(pred, true, 0.5)
        seg[kind][0].append((tp, fp, fn))
        seg[kind][1].append(sid)
        seg[kind][2].extend(ious)


if __name__ == "__main__":
    sys.exit(
        "benchmarks/localization_scores.py: helpers of benchmarks/localization.py, "
        "not a script; run python benchmarks/localization.py --help"
    )
