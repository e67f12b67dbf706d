"""A user's own microscope images: multi-channel TIFF / OME-TIFF files, or one file per
channel, read as gapnet samples (uint8 (size, size, 4) in `CHANNELS` order).

- Multi-channel TIFF: channels first (CYX, as microscopes write them) or last (YXC); the
  channel axis is the one tifffile names C, S or Q, else the axis of length 4. Which
  channel is which comes from `channels` (e.g. ("red", "green", "blue", "yellow"), one
  name per channel in file order) or from OME metadata whose channel names are gapnet's
  colour names; without either, the file is refused.
- One file per channel: `<stem>_<color>.<png|jpg|tif|tiff>` in a folder (as in Kaggle).
- 8- or 16-bit (scaled by the dtype range, never clipped: `gapnet.data.images`), any size
  (resized as training resized).
Errors name the file (`ImageError`).
"""

from __future__ import annotations

import os
import re

import numpy as np

from gapnet.classes import CHANNELS
from gapnet.data.images import IMAGE_EXTENSIONS, ImageError, _resize, read_channel, to_uint8

TIFF = (".tif", ".tiff")
_PER_CHANNEL = re.compile(
    r"^(.+)_(" + "|".join(CHANNELS) + r")\.(" + "|".join(IMAGE_EXTENSIONS) + r")$", re.IGNORECASE
)


def _ome_names(tif) -> list[str] | None:
    xml = tif.ome_metadata
    if not xml:
        return None
    names = re.findall(r"<Channel\b[^>]*\bName=\"([^\"]*)\"", xml)
    return [n.strip().lower() for n in names] or None


def read_tiff(path: str, size: int, channels=None) -> np.ndarray:
    """A multi-channel TIFF / OME-TIFF as uint8 (size, size, 4) in `CHANNELS` order."""
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
    if arr.ndim != 3:
        raise ImageError(
            path, f"expected one field with channels, got axes {axes} shape {arr.shape}"
        )
    c_axis = next((i for i, a in enumerate(axes) if a in "CSQ"), None)
    if c_axis is None:
        c_axis = next((i for i, n in enumerate(arr.shape) if n == len(CHANNELS)), 0)
    arr = np.moveaxis(arr, c_axis, -1)
    if not names:
        raise ImageError(
            path,
            "which channel is which is unknown: give the order "
            "(--channels red,green,blue,yellow) or OME channel names",
        )
    if len(names) != arr.shape[-1]:
        raise ImageError(path, f"{arr.shape[-1]} channels in the file, {len(names)} names given")
    missing = [c for c in CHANNELS if c not in names]
    if missing:
        raise ImageError(path, f"no {', '.join(missing)} channel among {names}")
    planes = to_uint8(arr, path)
    return np.stack(
        [_resize(np.ascontiguousarray(planes[..., names.index(c)]), size) for c in CHANNELS], -1
    )


def find_images(path: str) -> list[tuple[str, object]]:
    """(name, what to read) of every sample at `path`: a TIFF file, or a folder of TIFF files
    and/or per-channel files. What to read is a file path (TIFF) or a {colour: path} dict."""
    if os.path.isfile(path):
        return [(os.path.splitext(os.path.basename(path))[0], path)]
    if not os.path.isdir(path):
        raise ImageError(path, "no such file or folder")
    found, groups = [], {}
    for f in sorted(os.listdir(path)):
        full = os.path.join(path, f)
        m = _PER_CHANNEL.match(f)
        if m:
            groups.setdefault(m.group(1), {})[m.group(2).lower()] = full
        elif f.lower().endswith(TIFF):
            found.append((os.path.splitext(f)[0], full))
    for stem, files in sorted(groups.items()):
        found.append((stem, files))
    if not found:
        raise ImageError(path, "no TIFF or <stem>_<color> image files")
    return found


def read_image(source, size: int, channels=None) -> np.ndarray:
    """Reads one entry of `find_images` as uint8 (size, size, 4)."""
    if isinstance(source, dict):
        missing = [c for c in CHANNELS if c not in source]
        if missing:
            any_file = next(iter(source.values()))
            raise ImageError(any_file, f"no {', '.join(missing)} file beside it")
        return np.stack([read_channel(source[c], c, size) for c in CHANNELS], -1)
    return read_tiff(source, size, channels)
