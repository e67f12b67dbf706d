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


def _channels_and_peak(image: ZarrImage, level: int, channels, channel_set, notes):
    """(the array's channel indices in the order of `channel_set`, the level's maximum for
    pixel types other than 8/16-bit unsigned, else None); `notes` gets dropped channels."""
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
    peak = None
    if not (image.dtype == np.uint8 or image.dtype.kind == "u" and image.dtype.itemsize == 2):
        if image.dtype.kind not in "iuf":
            raise ImageError(image.path, f"unsupported pixel type {image.dtype}")
        lazy = image.lazy(level, index)
        if image.dtype.kind == "f" and not bool(np.isfinite(lazy).all().compute()):
            raise ImageError(image.path, "image holds NaN or infinite values")
        peak = float(lazy.max().compute())
    return index, peak


def read_zarr(image: ZarrImage, size: int, channels=None, channel_set=None, notes=None):
    """uint8 (size, size, C) of `image` in the order of `channel_set` (default: the four
    colours); `notes` (a list) gets its channels the set does not use (dropped).

    Raises:
        ImageError: naming the image's path (a channel missing, unreadable chunks)."""
    level = image.level_for_size(size)
    index, peak = _channels_and_peak(image, level, channels, channel_set, notes)
    h, w = image.levels[level].shape
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


def zarr_windows(
    image: ZarrImage,
    size: int,
    run_um: float,
    channels=None,
    channel_set=None,
    notes=None,
    batch: int = 16,
):
    """The model's (k, size, size, C) uint8 windows of `image` at the run's pixel size
    `run_um`, in batches of at most `batch`: the windows `pixel_size.tiles` cuts from the
    image resampled to `run_um`, each read from the level nearest `run_um` as its own region
    and resampled alone, so the image is never read whole.

    Raises:
        ImageError: naming the image's path (its levels have no physical pixel size, a
            channel missing, unreadable chunks)."""
    from gapnet.data.pixel_size import resample, window_starts

    level = image.level_for_um(run_um)
    index, peak = _channels_and_peak(image, level, channels, channel_set, notes)
    uy, ux = image.levels[level].um_per_px
    h, w = image.levels[level].shape
    big_h, big_w = max(1, round(h * uy / run_um)), max(1, round(w * ux / run_um))
    out = []
    for y in window_starts(big_h, size):
        for x in window_starts(big_w, size):
            y0, x0 = int(y * run_um / uy), int(x * run_um / ux)
            y1 = min(h, int(np.ceil((y + size) * run_um / uy)))
            x1 = min(w, int(np.ceil((x + size) * run_um / ux)))
            region = _to_uint8(image.region(level, y0, y1, x0, x1, index), image, peak)
            win = resample(region, (uy, ux), run_um, image.path)[0][:size, :size]
            pad = [(0, size - win.shape[0]), (0, size - win.shape[1]), (0, 0)]
            out.append(np.pad(win, pad))
            if len(out) == batch:
                yield np.stack(out)
                out = []
    if out:
        yield np.stack(out)
