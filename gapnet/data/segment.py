"""Cell segmentation that needs no download: nuclei from the blue channel, cell bodies by
a watershed seeded by the nuclei on the cytoplasm channels (scikit-image).

Nuclei: `gapnet.data.segment_nuclei` (background removed, a global log-Otsu level combined
with a local one, touching nuclei split on distance x intensity). Cells (`grow_cells`): the
cytoplasm planes (red + yellow in an HPA image), each smoothed, offset-corrected and scaled,
then summed and thresholded at `body_threshold` x its Otsu level; a watershed on the inverted
signal from the nuclei grows each nucleus into its cell; body pixels no nucleus reaches stay
background. Label images: 0 = background, 1..n the objects (cell i holds nucleus i);
`edge_labels` names the objects cut by the image's border.

The parameter that matters across microscopes is `nucleus_diameter`, the expected nucleus
diameter in pixels at the image's size (about 50 at HPA's 512 px, 200 at 2048); left None
it is estimated from the image (`gapnet.data.nucleus_size`). Results on real references:
docs/segmentation.md.

Masks from elsewhere (Cellpose, HPA-Cell-Segmentation) are read by `read_mask` in the same
naming: `<Id>_cells.png` / `<Id>_nuclei.png` (16-bit label PNG), `.npy` or `.tif(f)`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from gapnet.classes import CHANNELS
from gapnet.data.labels import DataError
from gapnet.data.segment_nuclei import find_nuclei, median_diameter
from gapnet.progress import track

MASK_SUFFIXES = (".png", ".npy", ".tif", ".tiff")


@dataclass(frozen=True)
class SegmentParams:
    # expected nucleus diameter in pixels at the image's size; None: estimated from the image
    nucleus_diameter: float | None = None
    body_threshold: float = 0.25  # cell-body level as a fraction of the Otsu threshold
    nucleus_threshold: float = 1.0  # x the global nucleus level (segment_nuclei's step 2)
    smooth: float = 0.04  # Gaussian sigma as a fraction of the nucleus diameter
    local_fraction: float = 0.25  # a nucleus pixel is above this x the brightest one near it
    peak_distance: float = 0.6  # nucleus centres at least this x the diameter apart
    compactness: float = 3.0  # cell growth: weight of the distance to its nucleus (x diameter^-2)


def segment_nuclei(blue: np.ndarray, p: SegmentParams = SegmentParams()) -> np.ndarray:
    """Nucleus label image (int32, 0 = background) from the blue channel (2-D, any dtype):
    `gapnet.data.segment_nuclei.find_nuclei` without the diameter it used."""
    return find_nuclei(blue, p)[0]


def segment_cells(
    image: np.ndarray, p: SegmentParams = SegmentParams(), nuclei: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(cells, nuclei) label images of an (H, W, 4) image in gapnet's channel order (uint8
    or 16-bit), bodies from its red + yellow planes (`grow_cells`)."""
    blue = image[..., CHANNELS.index("blue")]
    body = [image[..., CHANNELS.index(c)] for c in ("red", "yellow")]
    return grow_cells(blue, body, p, nuclei)[:2]


def grow_cells(
    blue: np.ndarray,
    body: list[np.ndarray],
    p: SegmentParams = SegmentParams(),
    nuclei: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """(cells, nuclei, nucleus diameter used in px) from a nucleus plane and the cytoplasm
    planes (any of microtubules, ER, ...; none: cells are empty).

    Body signal: the planes, each smoothed, less its 0.5th percentile, scaled by its 99.9th,
    then summed; cell pixels are above `body_threshold` x its Otsu level. A compact
    watershed on the inverted signal (`compactness`: flat bodies split halfway between their
    nuclei) grows nucleus i into cell i. Every nucleus is inside the mask, so cell i exists
    for every nucleus i and holds it: both images share their labels.
    """
    from scipy import ndimage as ndi
    from skimage.filters import threshold_otsu
    from skimage.segmentation import watershed

    if nuclei is None:
        nuclei, diameter = find_nuclei(blue, p)
    else:
        diameter = p.nucleus_diameter or median_diameter(nuclei)
    if not body or not nuclei.max():
        return np.zeros_like(nuclei), nuclei.astype(np.int32), diameter
    sigma = max(p.smooth * diameter, 0.5)
    signal = np.zeros(nuclei.shape, np.float32)
    for plane in body:
        x = ndi.gaussian_filter(plane.astype(np.float32), sigma)
        x = np.clip(x - np.percentile(x, 0.5), 0, None)
        signal += x / max(float(np.percentile(x, 99.9)), 1e-6)
    level = threshold_otsu(signal) if signal.max() > signal.min() else np.inf
    mask = (signal > p.body_threshold * level) | (nuclei > 0)
    cells = watershed(-signal, nuclei, mask=mask, compactness=p.compactness / diameter**2)
    return cells.astype(np.int32), nuclei.astype(np.int32), diameter


def edge_labels(labels: np.ndarray) -> np.ndarray:
    """The labels of the objects that touch the image's border (cut by the field of view)."""
    border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    return np.setdiff1d(np.unique(border), [0])


def write_mask(path: str, labels: np.ndarray, source: str | None = None) -> None:
    """A label image as a 16-bit PNG (at most 65,535 objects), written atomically.

    Raises:
        ImageError: more than 65,535 objects, naming `source` (the image segmented) or else
        `path`."""
    import cv2

    from gapnet.data.images import ImageError
    from gapnet.io import atomic_write_bytes

    if labels.size and labels.max() > 65535:
        raise ImageError(
            source or path,
            f"{labels.max()} objects found: more than a 16-bit label PNG holds (65,535); "
            f"nothing written to {path}",
        )
    ok, buf = cv2.imencode(".png", labels.astype(np.uint16))
    if not ok:  # pragma: no cover
        raise RuntimeError(f"{path}: PNG encoding failed")
    atomic_write_bytes(path, buf.tobytes())


def mask_path(folder: str, sample_id: str, kind: str = "cells") -> str | None:
    """The first existing `<folder>/<Id>_<kind>{.png,.npy,.tif,.tiff}`, or None."""
    for ext in MASK_SUFFIXES:
        path = os.path.join(folder, f"{sample_id}_{kind}{ext}")
        if os.path.isfile(path):
            return path
    return None


def read_mask(path: str, shape=None) -> np.ndarray:
    """A label image (int32, 0 = background) from a PNG (8/16-bit), NPY or TIFF file; with
    `shape`, resized to it by nearest neighbour (labels are never interpolated).

    Raises:
        DataError: unreadable, not 2-D, or negative labels; the message names the file.
    """
    import cv2

    try:
        if path.endswith(".npy"):
            labels = np.load(path, allow_pickle=False)
        elif path.endswith((".tif", ".tiff")):
            import tifffile

            labels = tifffile.imread(path)
        else:
            labels = cv2.imread(path, cv2.IMREAD_UNCHANGED)
            if labels is None:
                raise ValueError("not a readable PNG")
    except Exception as e:  # noqa: BLE001 - every reader's own error, named once
        raise DataError(f"{path}: cannot read the mask ({e})") from e
    labels = np.squeeze(np.asarray(labels))
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise DataError(
            f"{path}: a mask must be a 2-D image of non-negative integer labels, "
            f"got {labels.dtype} {labels.shape}"
        )
    labels = labels.astype(np.int32)
    if shape is not None and labels.shape != tuple(shape):
        labels = resize_labels(labels, shape)
    return labels


def resize_labels(labels: np.ndarray, shape) -> np.ndarray:
    """Nearest-neighbour resize of a label image (pixel centres mapped onto each other)."""
    h, w = labels.shape
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * h / shape[0]).astype(int), h - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * w / shape[1]).astype(int), w - 1)
    return labels[rows[:, None], cols[None, :]]


SEGMENTATION_FIELDS = (
    "image",
    "file",
    "height",
    "width",
    "nucleus_diameter",
    "diameter",
    "nuclei",
    "cells",
    "edge",
    "warning",
    "error",
)
NO_NUCLEI = "no nuclei found"


def write_segmentation_csv(path: str, rows: list[dict]) -> None:
    """segmentation.csv: one row per image (SEGMENTATION_FIELDS), written atomically."""
    import csv
    import io

    from gapnet.io import atomic_write_text

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(SEGMENTATION_FIELDS), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _segment_one(job) -> dict:
    """Segments one Kaggle-layout sample (or finds it done) and returns its CSV row; the
    row is kept in `out/rows/<Id>.json` so that a resumed run still reports it."""
    import json

    from gapnet.io import atomic_write_json

    image_dir, ext, sample_id, size, params, out = job
    from gapnet.data.images import read_sample

    cells_path = os.path.join(out, f"{sample_id}_cells.png")
    nuclei_path = os.path.join(out, f"{sample_id}_nuclei.png")
    row_path = os.path.join(out, "rows", f"{sample_id}.json")
    where = os.path.join(image_dir, f"{sample_id}_*")
    if os.path.isfile(cells_path) and os.path.isfile(nuclei_path):  # resumed: done before
        if os.path.isfile(row_path):
            with open(row_path) as f:
                return json.load(f)
        cells = read_mask(cells_path)  # segmented by a gapnet that kept no row
        return segmentation_row(sample_id, where, cells, read_mask(nuclei_path), "", "not recorded")
    image = read_sample(image_dir, sample_id, size, ext)
    blue = image[..., CHANNELS.index("blue")]
    body = [image[..., CHANNELS.index(c)] for c in ("red", "yellow")]
    cells, nuclei, diameter = grow_cells(blue, body, params)
    given = "given" if params.nucleus_diameter else "estimated"
    row = segmentation_row(sample_id, where, cells, nuclei, round(float(diameter), 1), given)
    write_mask(nuclei_path, nuclei, where)
    atomic_write_json(row_path, row)
    write_mask(cells_path, cells, where)  # last: its presence marks the sample done
    return row


def segmentation_row(sample_id, where, cells, nuclei, diameter, given) -> dict:
    """One image's segmentation.csv row (SEGMENTATION_FIELDS) from its masks."""
    return {
        "image": sample_id,
        "file": where,
        "height": cells.shape[0],
        "width": cells.shape[1],
        "nucleus_diameter": diameter,
        "diameter": given,
        "nuclei": int(nuclei.max()),
        "cells": int(cells.max()),
        "edge": " ".join(str(i) for i in edge_labels(cells)),
        "warning": NO_NUCLEI if nuclei.max() == 0 else "",
        "error": "",
    }


MASK_RATIO = 0.05  # assumed PNG bytes / raw 16-bit bytes of a label image (the atlas: 0.02)


def mask_bytes(out: str, names: set, size: int) -> int:
    """Bytes one sample's files take in `out`: the mean of up to 50 finished samples' two
    masks and row (4 KB blocks counted), else an estimate from `MASK_RATIO`."""
    done = [n[: -len("_cells.png")] for n in names if n.endswith("_cells.png")][:50]
    sizes = []
    for stem in done:
        try:
            sizes.append(
                sum(
                    os.stat(os.path.join(out, f)).st_blocks * 512
                    for f in (f"{stem}_cells.png", f"{stem}_nuclei.png")
                )
                + 4096
            )
        except OSError:
            continue
    if sizes:
        return int(np.mean(sizes) * 1.2)
    return int(2 * size * size * 2 * MASK_RATIO) + 3 * 4096


def check_mask_space(out: str, ids, size: int) -> None:
    """Refuses (`gapnet.io.DiskSpaceError`, naming `out` and the bytes needed) to start a
    segmentation whose masks would not fit; finished samples are not counted."""
    from gapnet.io import check_free_space

    names = set(os.listdir(out))  # one listing, not a stat per sample
    todo = sum(f"{i}_cells.png" not in names or f"{i}_nuclei.png" not in names for i in ids)
    if todo:
        check_free_space(
            out,
            todo * mask_bytes(out, names, size),
            f"the masks of {todo} samples at {size} px",
        )


def segment_folder(
    root: str,
    out: str,
    size: int = 512,
    params: SegmentParams = SegmentParams(),
    split: str = "train",
    workers: int | None = None,
    progress: bool = True,
) -> list[dict]:
    """Segments every sample of a Kaggle-layout split into `out/<Id>_{cells,nuclei}.png`
    (16-bit labels at `size`) and writes `out/segmentation.csv` (per sample: the nucleus
    diameter used, given or estimated, the counts, the edge cells, a warning where no
    nucleus was found); samples already done are skipped (a killed run resumes).
    Returns the CSV rows, in the split's order."""
    from multiprocessing import get_context

    from gapnet.data.source import open_source

    src = open_source(root, split)
    os.makedirs(out, exist_ok=True)
    jobs = [(src.image_dir, src.ext, i, size, params, out) for i in src.labels.ids]
    check_mask_space(out, src.labels.ids, size)
    os.makedirs(os.path.join(out, "rows"), exist_ok=True)
    workers = max(1, workers or os.cpu_count() or 1)
    rows = {}
    with track(len(jobs), "segmenting", enabled=progress) as bar:
        if workers == 1:
            for job in jobs:
                row = _segment_one(job)
                rows[row["image"]] = row
                bar.update()
        else:
            with get_context("spawn").Pool(workers) as pool:
                for row in pool.imap_unordered(_segment_one, jobs, chunksize=2):
                    rows[row["image"]] = row
                    bar.update()
    ordered = [rows[i] for i in src.labels.ids]
    write_segmentation_csv(os.path.join(out, "segmentation.csv"), ordered)
    return ordered
