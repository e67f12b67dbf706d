"""Per-cell calls from an image-level classifier: its probabilities and its maps' mass in
each cell (the recipe of the strong HPA 2021 single-cell entries, e.g. 8th and 21st place).

For cell c and class k, with M_k the class map's positive part and m_ck its mean inside
cell c:

    r_ck = m_ck / median_c' m_c'k     (the cell's class signal against the typical cell's)
    p_ck = p_k * min(r_ck, 1)         (the cell's score; p_k the image's probability)

Cell c gets label k when the image gets k (p_k above the class threshold, strictly: the
rule of `gapnet.cv.submission.decide`) and
r_ck >= `CELL_SHARE`: cells the map leaves far darker than the typical cell
(non-expressing cells) drop the label. The median, not the brightest cell, is the
reference because expression varies several-fold between expressing cells. `CELL_SHARE`
= 0.25 was chosen among 0.1, 0.25 and 0.5 on a development draw of the synthetic atlas
(seed 7), never on the draw the benchmark reports. Alternatives the 2021 entries used:
p_k^a * r^b with tuned exponents (tuning needs cell-level labels, which HPA's image-level
data lack), a second network on cell crops, the map's maximum in the cell instead of its
mean (noisier on small cells), or a share relative to the brightest cell (which drops
dim expressing cells: 0.34-0.38 against 0.43 for "every cell gets the image's labels" on
the development draw).
"""

from __future__ import annotations

import numpy as np

from gapnet.classes import N_CLASSES
from gapnet.cv.submission import decide
from gapnet.schemes import scheme_of_width

CELL_SHARE = 0.25


def map_pixel_of(cells_shape, map_shape) -> np.ndarray:
    """(H*W,) the flat index of the map pixel each cell-mask pixel falls in (pixel centres
    mapped onto the map's grid, as `gapnet.segment.resize_labels` maps them): a mask
    at any size reads maps at another without resizing the mask, so no cell is lost."""
    (H, W), (h, w) = cells_shape, map_shape
    rows = np.minimum(((np.arange(H) + 0.5) * h / H).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(W) + 0.5) * w / W).astype(np.int64), w - 1)
    return (rows[:, None] * w + cols[None, :]).ravel()


def cell_shares(maps: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """(n_cells, K) r_ck for maps (K, h, w) and a cell label image (H, W) at the maps' size
    or any other (each cell pixel reads the map pixel it falls in, so a cell smaller than a
    map pixel keeps its score): the mean positive map inside each cell, divided by the
    median over the cells present (0 where that is 0)."""
    from scipy.sparse import coo_matrix

    n = int(cells.max())
    if n == 0:
        return np.zeros((0, len(maps)), np.float32)
    flat = cells.ravel().astype(np.int64)
    pix = map_pixel_of(cells.shape, maps.shape[1:])
    inside = flat > 0
    # counts[c, j]: pixels of cell c that fall in map pixel j
    counts = coo_matrix(
        (np.ones(int(inside.sum())), (flat[inside] - 1, pix[inside])),
        shape=(n, maps.shape[1] * maps.shape[2]),
    ).tocsr()
    area = np.asarray(counts.sum(1)).ravel()
    present = area > 0
    pos = np.maximum(np.asarray(maps, np.float64), 0).reshape(len(maps), -1)
    means = np.asarray(counts @ pos.T) / np.maximum(area, 1)[:, None]
    ref = np.median(means[present], 0, keepdims=True) if present.any() else np.zeros((1, len(maps)))
    return np.where(ref > 0, means / np.where(ref > 0, ref, 1), 0).astype(np.float32)


def cell_calls(
    probs: np.ndarray, thresholds: np.ndarray, maps: np.ndarray, classes, cells: np.ndarray
):
    """Per-cell scores (n_cells, C) and labels for one image (C = 28 or 19, the scheme's).

    Args:
        probs: the image's C probabilities; thresholds: the C class thresholds.
        maps: (K, H, W) maps of `classes`. Pass all C classes (as explain does) so that
            every class is scored the same way; which classes are mapped must never depend
            on the true labels.
        cells: the cell label image, at the maps' size or the image's own (each cell pixel
            reads the map pixel it falls in; no cell is lost to resizing).

    Returns:
        scores: p_ck for the mapped classes; for a class without a map, p_k (the image's
            probability: no evidence about where it is).
        labels: a list per cell of the classes called in it.
    """
    classes = [int(k) for k in classes]
    n = int(cells.max())
    scores = np.repeat(np.asarray(probs, np.float32)[None], n, 0).reshape(n, len(probs))
    shares = cell_shares(maps, cells)
    image_calls = set(decide(np.asarray(probs)[None], np.asarray(thresholds)[None], "none")[0])
    labels = [[] for _ in range(n)]
    for j, k in enumerate(classes):
        scores[:, k] = probs[k] * np.minimum(shares[:, j], 1.0)
        if k in image_calls:
            for c in np.flatnonzero(shares[:, j] >= CELL_SHARE):
                labels[c].append(k)
    return scores, [sorted(ls) for ls in labels]


def cell_geometry(cells: np.ndarray):
    """(n_cells, 3) centroid x, centroid y and area (pixels) of each cell label 1..n."""
    n = int(cells.max())
    yy, xx = np.indices(cells.shape)
    flat = cells.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:].astype(np.float64)
    cx = np.bincount(flat, xx.ravel(), n + 1)[1:] / np.maximum(area, 1)
    cy = np.bincount(flat, yy.ravel(), n + 1)[1:] / np.maximum(area, 1)
    return np.stack([cx, cy, area], 1)


def cell_rows(sample_id: str, scores, labels, cells: np.ndarray) -> list[str]:
    """cells.csv rows: Id, cell, x, y, area, edge (1: the image's border cuts the cell; the
    2021 entries down-weighted such cells), p_0..p_{C-1}, labels (space-separated)."""
    from gapnet.segment import edge_labels

    geo = cell_geometry(cells)
    edge = set(edge_labels(cells))
    rows = []
    for c in range(len(labels)):
        if geo[c, 2] == 0:  # a label number the mask skips
            continue
        rows.append(
            f"{sample_id},{c + 1},{geo[c, 0]:.1f},{geo[c, 1]:.1f},{int(geo[c, 2])},"
            f"{int(c + 1 in edge)},"
            + ",".join(f"{p:.5g}" for p in scores[c])
            + f",{' '.join(map(str, labels[c]))}"
        )
    return rows


def cells_header(n_classes: int = N_CLASSES) -> str:
    """The header of cells.csv for a scheme of `n_classes` classes (p_0 .. p_{C-1})."""
    scheme_of_width(n_classes)  # a known scheme
    return "Id,cell,x,y,area,edge," + ",".join(f"p_{k}" for k in range(n_classes)) + ",labels"


CELLS_HEADER = cells_header()  # the 2018 scheme's


def sample_cells(masks, sid, src, nucleus_diameter: float | None, method: str = "learned"):
    """(cell label image at its own resolution, where it came from, its segmentation.csv
    row or None): the masks folder's mask as it is, or segmented here on the sample read at
    its file's resolution (nucleus diameter scaled from 512 px, or estimated when None).
    Cells are scored at that resolution (each cell pixel reads the map pixel it falls in),
    so no cell is lost to resizing."""
    import os

    from gapnet.segment import SegmentParams, grow_cells, mask_path, read_mask, segmentation_row

    if masks:
        path = mask_path(masks, sid, "cells")
        if path is None:
            raise FileNotFoundError(f"{masks}: no {sid}_cells.png / .npy / .tif mask")
        return read_mask(path), "masks", None
    from gapnet.data.images import ImageError, channel_path, read_channel, read_sample

    cs = src.channels
    first = channel_path(src.image_dir, sid, cs.name_of("green"), src.ext)
    if cs.index("blue") is None:
        raise ImageError(first, "no nucleus (blue) channel in this run to find cells with")
    native = read_channel(first, "green").shape[0]
    full = read_sample(src.image_dir, sid, native, src.ext, cs)
    d = nucleus_diameter * native / 512 if nucleus_diameter else None
    blue = full[..., cs.index("blue")]
    body = [full[..., cs.index(c)] for c in ("red", "yellow") if c in cs.roles]
    params = SegmentParams(nucleus_diameter=d, method=method)
    cells, nuclei, used = grow_cells(blue, body, params)
    where = os.path.join(src.image_dir, f"{sid}_*")
    given = "given" if nucleus_diameter else "estimated"
    row = segmentation_row(sid, where, cells, nuclei, round(float(used), 1), given, params.method)
    if row["warning"]:
        import sys

        print(f"warning: {where}: {row['warning']}", file=sys.stderr)
    return cells, native, row
