"""Multi-channel TIFF / OME-TIFF files: their planes as (Y, X, C) with the channel axis found
(the one tifffile names C, S or Q, else the axis of length 4; a single-plane file has one
channel), their channel names (given in file order, or OME metadata's), and `read_tiff`,
a file as uint8 in the order of a model's channel set (`gapnet.data.microscope` reads a
user's files with it). Errors name the file (`ImageError`).
"""

from __future__ import annotations

import re

import numpy as np

from gapnet.channels import ALL
from gapnet.classes import CHANNELS
from gapnet.data.images import ImageError, _resize, to_uint8

TIFF = (".tif", ".tiff")


def _ome_names(tif) -> list[str] | None:
    xml = tif.ome_metadata
    if not xml:
        return None
    names = re.findall(r"<Channel\b[^>]*\bName=\"([^\"]*)\"", xml)
    return [n.strip().lower() for n in names] or None


def tiff_planes(path: str, channels=None) -> tuple[np.ndarray, list[str] | None]:
    """(pixels as (Y, X, C) in the file's dtype, channel names or None) of a TIFF file; a
    single-plane file has one channel."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            arr, axes = series.asarray(), series.axes
            names = list(channels) if channels else _ome_names(tif)
    except FileNotFoundError:
        raise ImageError(path, "missing file") from None
    except Exception as e:  # tifffile raises many types for corrupt files
        raise ImageError(path, f"not a readable TIFF ({e})") from None
    keep = [i for i, (a, n) in enumerate(zip(axes, arr.shape, strict=True)) if n > 1 or a in "YX"]
    arr = arr.reshape([arr.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    if arr.ndim == 2:
        if names and len(names) != 1:
            raise ImageError(path, f"1 channel in the file, {len(names)} names given")
        return arr[..., None], names
    if arr.ndim != 3:
        raise ImageError(
            path, f"expected one field with channels, got axes {axes} shape {arr.shape}"
        )
    c_axis = next((i for i, a in enumerate(axes) if a in "CSQ"), None)
    if c_axis is None:
        c_axis = next((i for i, n in enumerate(arr.shape) if n == len(CHANNELS)), 0)
    arr = np.moveaxis(arr, c_axis, -1)
    if names and len(names) != arr.shape[-1]:
        raise ImageError(path, f"{arr.shape[-1]} channels in the file, {len(names)} names given")
    return arr, names


def read_tiff(
    path: str, size: int | None, channels=None, channel_set=None, notes=None
) -> np.ndarray:
    """A multi-channel TIFF / OME-TIFF as uint8 (size, size, C; its own size if `size` is
    None) in the order of `channel_set` (default: the four `CHANNELS`); `notes` gets the
    names of channels the set does not use (dropped)."""
    want = list((channel_set or ALL).names)
    arr, names = tiff_planes(path, channels)
    if not names:
        raise ImageError(
            path,
            "which channel is which is unknown: give the order "
            f"(--channels {','.join(want)}) or OME channel names",
        )
    lower = [n.lower() for n in names]
    missing = [c for c in want if c.lower() not in lower]
    if missing:
        raise ImageError(
            path, f"no {', '.join(missing)} channel among {names} (the model needs {want})"
        )
    if notes is not None:
        notes += [n for n in names if n.lower() not in {c.lower() for c in want}]
    planes = to_uint8(arr, path)
    return np.stack(
        [
            _resize(plane, size) if size else plane
            for plane in (np.ascontiguousarray(planes[..., lower.index(c.lower())]) for c in want)
        ],
        -1,
    )
