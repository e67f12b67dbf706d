"""Cell segmentation that needs no download: nuclei from the blue channel, cell bodies by
a watershed seeded by the nuclei on the microtubule and ER channels (scikit-image).

Nuclei: Gaussian smoothing, a threshold at `nucleus_threshold` (default half) x the Otsu
level, holes filled, objects smaller than a quarter
of the expected nucleus area dropped, touching nuclei split by a watershed on the distance
transform from peaks at least half a diameter apart. Cells: the red + yellow (+ blue)
signal, smoothed, thresholded at `body_threshold` x its Otsu level; a watershed on the
inverted signal from the nuclei grows each nucleus into its cell; body pixels no nucleus
reaches stay background. Label images: 0 = background, 1..n the objects (cell i holds
nucleus i).

The one parameter that matters across microscopes is `nucleus_diameter`, the expected
nucleus diameter in pixels at the image's size (about 50 at HPA's 512 px; scale it with
the magnification and the image size).

Masks from elsewhere (Cellpose, HPA-Cell-Segmentation) are read by `read_mask` in the same
naming: `<Id>_cells.png` / `<Id>_nuclei.png` (16-bit label PNG), `.npy` or `.tif(f)`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from gapnet.classes import CHANNELS
from gapnet.data.labels import DataError

MASK_SUFFIXES = (".png", ".npy", ".tif", ".tiff")


@dataclass(frozen=True)
class SegmentParams:
    nucleus_diameter: float = 50.0  # expected nucleus diameter in pixels at this size
    body_threshold: float = 0.5  # cell-body level as a fraction of the Otsu threshold
    nucleus_threshold: float = 0.5  # nucleus level as a fraction of the blue Otsu threshold
    smooth: float = 0.04  # Gaussian sigma as a fraction of the nucleus diameter


def segment_nuclei(blue: np.ndarray, p: SegmentParams = SegmentParams()) -> np.ndarray:
    """Nucleus label image (int32, 0 = background) from the blue channel."""
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian, threshold_otsu
    from skimage.segmentation import watershed

    img = gaussian(
        blue.astype(np.float32), sigma=max(p.smooth * p.nucleus_diameter, 0.5), preserve_range=True
    )
    if img.max() <= img.min():
        return np.zeros(blue.shape, np.int32)
    mask = ndi.binary_fill_holes(img > p.nucleus_threshold * threshold_otsu(img))
    comp, _ = ndi.label(mask)
    sizes = np.bincount(comp.ravel())
    # Debris: under a quarter of a nucleus' area; at the image's edge, where a nucleus may
    # be cut to any size, under a sixteenth.
    edge = np.unique(np.concatenate([comp[0], comp[-1], comp[:, 0], comp[:, -1]]))
    least = np.full(len(sizes), np.pi * (p.nucleus_diameter / 4) ** 2)
    least[edge] = np.pi * (p.nucleus_diameter / 8) ** 2
    small = sizes < least
    small[0] = True
    mask = ~small[comp]
    comp[~mask] = 0
    dist = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(
        dist, min_distance=max(int(p.nucleus_diameter / 2), 1), labels=comp, exclude_border=False
    )
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # components without a peak (very flat) still get one marker
    for lab in np.setdiff1d(np.unique(comp[mask]), np.unique(comp[tuple(peaks.T)])):
        ys, xs = np.nonzero(comp == lab)
        markers[ys[len(ys) // 2], xs[len(xs) // 2]] = markers.max() + 1
    nuclei = watershed(-dist, markers, mask=mask)
    from skimage.segmentation import relabel_sequential

    return relabel_sequential(nuclei)[0]  # labels 1..n, in the order of their values


def segment_cells(
    image: np.ndarray, p: SegmentParams = SegmentParams(), nuclei: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(cells, nuclei) label images of a uint8 (H, W, 4) image in gapnet's channel order.

    Cell i is the body grown from nucleus i; a nucleus whose cell is empty is dropped, so
    both images share their labels.
    """
    from skimage.filters import gaussian, threshold_otsu
    from skimage.segmentation import watershed

    if nuclei is None:
        nuclei = segment_nuclei(image[..., CHANNELS.index("blue")], p)
    body = sum(image[..., CHANNELS.index(c)].astype(np.float32) for c in ("red", "yellow"))
    body = gaussian(body, sigma=max(p.smooth * p.nucleus_diameter, 0.5), preserve_range=True)
    level = threshold_otsu(body) if body.max() > body.min() else np.inf
    mask = (body > p.body_threshold * level) | (nuclei > 0)
    cells = watershed(-body, nuclei, mask=mask) if nuclei.max() else np.zeros_like(nuclei)
    return cells.astype(np.int32), nuclei.astype(np.int32)


def write_mask(path: str, labels: np.ndarray) -> None:
    """A label image as a 16-bit PNG (at most 65,535 objects), written atomically."""
    import cv2

    from gapnet.io import atomic_write_bytes

    if labels.max() > 65535:
        raise ValueError(f"{path}: {labels.max()} objects do not fit a 16-bit PNG")
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


def _segment_one(job) -> str:
    image_dir, ext, sample_id, size, params, out = job
    from gapnet.data.images import read_sample

    cells_path = os.path.join(out, f"{sample_id}_cells.png")
    nuclei_path = os.path.join(out, f"{sample_id}_nuclei.png")
    if os.path.isfile(cells_path) and os.path.isfile(nuclei_path):
        return sample_id  # resumed: done before
    cells, nuclei = segment_cells(read_sample(image_dir, sample_id, size, ext), params)
    write_mask(nuclei_path, nuclei)
    write_mask(cells_path, cells)  # last: its presence marks the sample done
    return sample_id


def segment_folder(
    root: str,
    out: str,
    size: int = 512,
    params: SegmentParams = SegmentParams(),
    split: str = "train",
    workers: int | None = None,
    progress: bool = True,
) -> int:
    """Segments every sample of a Kaggle-layout split into `out/<Id>_{cells,nuclei}.png`
    (16-bit labels at `size`); samples already done are skipped (a killed run resumes).
    Returns the number of samples."""
    from multiprocessing import get_context

    from tqdm import tqdm

    from gapnet.data.source import open_source

    src = open_source(root, split)
    os.makedirs(out, exist_ok=True)
    jobs = [(src.image_dir, src.ext, i, size, params, out) for i in src.labels.ids]
    workers = max(1, workers or os.cpu_count() or 1)
    with tqdm(
        total=len(jobs), desc="segmenting", unit="sample", disable=None if progress else True
    ) as bar:
        if workers == 1:
            for job in jobs:
                _segment_one(job)
                bar.update()
        else:
            with get_context("spawn").Pool(workers) as pool:
                for _ in pool.imap_unordered(_segment_one, jobs, chunksize=2):
                    bar.update()
    return len(jobs)
