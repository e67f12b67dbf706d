"""Segmenting a user's own image files (outside the Kaggle layout) at their own size.

What is read follows `experiments/predict.py --images` (`gapnet.data.microscope`): a TIFF
file, or a folder of TIFF files, per-channel files `<stem>_<color>.<ext>` and lone
single-channel images (nucleus images). Any subset of the channels with a blue (nucleus)
one: cells are grown where red and/or yellow (or green when it is the only other) exist.

Writes `<out>/<stem>_nuclei.png` and, with a cytoplasm channel, `<out>/<stem>_cells.png`
(16-bit labels at the image's size), and `<out>/segmentation.csv`: per image its size, the
nucleus diameter used and whether it was given or estimated, the counts, and the labels of
the cells (or nuclei) cut by the image's edge.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from gapnet.data.images import ImageError
from gapnet.data.segment import SegmentParams, edge_labels, grow_cells, write_mask

CYTOPLASM = ("red", "yellow")  # microtubules, ER: the HPA cell-body markers


def body_planes(planes: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The cytoplasm planes to grow cells on: red and yellow where present, else green (the
    protein) when it is the only other channel, else none."""
    body = [planes[c] for c in CYTOPLASM if c in planes]
    if not body and "green" in planes:
        body = [planes["green"]]
    return body


def segment_one(
    name: str, planes: dict[str, np.ndarray], p: SegmentParams, out: str, where: str = ""
) -> dict:
    """Segments one image's planes, writes its masks into `out`, returns its CSV row;
    `where` (its file) names it in errors."""
    where = where or name
    if "blue" not in planes:
        raise ImageError(where, f"no blue (nucleus) channel among {sorted(planes)}")
    shape = planes["blue"].shape[:2]
    for c, plane in planes.items():
        if plane.shape[:2] != shape:
            raise ImageError(where, f"{c} is {plane.shape[:2]}, blue is {shape}: sizes differ")
    body = body_planes(planes)
    cells, nuclei, diameter = grow_cells(planes["blue"], body, p)
    write_mask(os.path.join(out, f"{name}_nuclei.png"), nuclei)
    if body:
        write_mask(os.path.join(out, f"{name}_cells.png"), cells)
    return {
        "image": name,
        "height": shape[0],
        "width": shape[1],
        "nucleus_diameter": round(diameter, 1),
        "diameter": "given" if p.nucleus_diameter else "estimated",
        "nuclei": int(nuclei.max()),
        "cells": int(cells.max()) if body else "",
        "edge": " ".join(str(i) for i in edge_labels(cells if body else nuclei)),
    }


def segment_images(path: str, out: str, channels=None, p: SegmentParams | None = None):
    """Segments every image at `path` into `out` (created); returns the CSV rows.

    Raises:
        ImageError: a missing or unreadable file, or no nucleus channel (the file named)."""
    from gapnet.data.microscope import find_images, read_planes

    p = p or SegmentParams()
    found = find_images(path, lone=True)
    os.makedirs(out, exist_ok=True)
    rows = []
    for name, src in found:
        where = src if isinstance(src, str) else os.path.join(path, f"{name}_*")
        rows.append(segment_one(name, read_planes(src, channels), p, out, where))
    with open(os.path.join(out, "segmentation.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return rows
