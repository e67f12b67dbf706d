"""An OME-Zarr image (`gapnet.data.ome_zarr`) as a gapnet sample: uint8 (size, size, C) in
the order of a model's channel set, as `predict.py --images` reads a PNG or a TIFF.

The whole field is the sample, as for a PNG (the model sees the field downsampled to its
input size): it is read from the coarsest level at least `size` px on each side
(`ZarrImage.level_for_size`), then scaled to 8 bits and resized by the rules of
`gapnet.data.images` (16-bit by the dtype range; area interpolation). A level larger than
`STRIP_BYTES` is never read whole: it is read in strips of full width, each resized to its
share of the output rows (exact when the level's height is a multiple of `size`, as for a
16,384-px field at 512 px; otherwise each strip boundary is rounded to the nearest input
row), so a 16,384 x 16,384 field with no pyramid is predicted in bounded memory.
"""

from __future__ import annotations

import numpy as np

from gapnet.channels import ALL
from gapnet.data.images import ImageError, _resize, to_uint8
from gapnet.data.ome_zarr import ZarrImage

STRIP_BYTES = 64 * 2**20  # the most of a level read at once


def channel_names(image: ZarrImage, channels=None) -> list[str]:
    """The image's channel names: its omero labels, else `channels` (one per channel).

    Raises:
        ImageError: neither, or `channels` of the wrong length."""
    if image.channels:
        return image.channels
    if channels:
        if len(channels) != image.n_channels:
            raise ImageError(
                image.path, f"{image.n_channels} channels in the array, {len(channels)} names given"
            )
        return list(channels)
    raise ImageError(
        image.path,
        "which channel is which is unknown: no omero channel labels (give --channels)",
    )


def _to_uint8(arr: np.ndarray, image: ZarrImage, peak: float | None) -> np.ndarray:
    if arr.dtype == np.uint8 or (arr.dtype.kind == "u" and arr.dtype.itemsize == 2):
        return to_uint8(arr, image.path)
    a = np.clip(arr.astype(np.float64), 0, None)  # other types: by the level's own maximum
    return np.zeros(a.shape, np.uint8) if not peak else np.round(a * 255.0 / peak).astype(np.uint8)


def read_zarr(image: ZarrImage, size: int, channels=None, channel_set=None, notes=None):
    """uint8 (size, size, C) of `image` in the order of `channel_set` (default: the four
    colours); `notes` (a list) gets its channels the set does not use (dropped).

    Raises:
        ImageError: naming the image's path (a channel missing, unreadable chunks)."""
    cs = channel_set or ALL
    names = channel_names(image, channels)
    lower = [n.lower() for n in names]
    missing = [n for n in cs.names if n.lower() not in lower]
    if missing:
        raise ImageError(
            image.path,
            f"no {', '.join(missing)} channel among {names} (the model needs {list(cs.names)})",
        )
    if notes is not None:
        notes += [n for n in names if n.lower() not in {c.lower() for c in cs.names}]
    index = [lower.index(n.lower()) for n in cs.names]
    level = image.level_for_size(size)
    h, w = image.levels[level].shape
    peak = None
    if not (image.dtype == np.uint8 or image.dtype.kind == "u" and image.dtype.itemsize == 2):
        if image.dtype.kind not in "iuf":
            raise ImageError(image.path, f"unsupported pixel type {image.dtype}")
        lazy = image.lazy(level, index)
        if image.dtype.kind == "f" and not bool(np.isfinite(lazy).all().compute()):
            raise ImageError(image.path, "image holds NaN or infinite values")
        peak = float(lazy.max().compute())
    row_bytes = w * len(index) * image.dtype.itemsize
    rows_out = max(1, int(STRIP_BYTES // max(row_bytes * h / size, 1)))
    out = np.empty((size, size, len(index)), np.uint8)
    for r0 in range(0, size, rows_out):
        r1 = min(size, r0 + rows_out)
        y0, y1 = round(r0 * h / size), round(r1 * h / size)
        if rows_out >= size:
            y0, y1 = 0, h
        strip = _to_uint8(image.region(level, y0, y1, 0, w, index), image, peak)
        for c in range(len(index)):
            plane = np.ascontiguousarray(strip[..., c])
            out[r0:r1, :, c] = _resize_to(plane, r1 - r0, size)
    return out


def _resize_to(plane: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """`plane` resized to (rows, cols) by `gapnet.data.images`' rule (the square case is
    `_resize` itself, so a whole level gives the PNG path's pixels exactly)."""
    if rows == cols:
        return _resize(plane, cols)
    import cv2

    h, w = plane.shape
    interp = cv2.INTER_AREA if min(h, w) > min(rows, cols) else cv2.INTER_LINEAR
    return cv2.resize(plane, (cols, rows), interpolation=interp)
