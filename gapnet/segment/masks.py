"""Label images on disk: 16-bit PNG masks written atomically, masks from elsewhere
(Cellpose, HPA-Cell-Segmentation) read in the same naming (`<Id>_cells.png` /
`<Id>_nuclei.png`, 16-bit label PNG, `.npy` or `.tif(f)`), nearest-neighbour resizing, and
the free-space check before a folder's masks are written."""

from __future__ import annotations

import os

import numpy as np

from gapnet.data.labels import DataError

MASK_SUFFIXES = (".png", ".npy", ".tif", ".tiff")


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
