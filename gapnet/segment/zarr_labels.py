"""Masks written into an OME-Zarr image as NGFF labels (`<image>.zarr/labels/<name>`, with
`image-label` metadata), by ome-zarr's writer: what napari shows over the image.

A large field's mask is built tile by tile (`LabelCanvas`: a level-0 label array on disk,
uint32, written a window at a time), then `finish` hands it to `ome_zarr.writer.
write_labels` as a lazy dask array: the label pyramid follows the image's levels (nearest
neighbour), with the image's pixel size, so memory stays that of a few chunks.
"""

from __future__ import annotations

import os
import shutil

import numpy as np

from gapnet.data.ome_zarr import EXTRA, ZarrImage

CHUNK = 1024  # px: label chunks


class LabelCanvas:
    """A (height, width) uint32 label image on disk (`path`, a plain Zarr array, removed
    by `finish`), read and written a window at a time."""

    def __init__(self, path: str, shape: tuple[int, int]):
        try:
            import zarr
        except ImportError:
            raise ImportError(EXTRA) from None
        shutil.rmtree(path, ignore_errors=True)
        self.path = path
        c = min(CHUNK, max(shape))
        self.array = zarr.create_array(path, shape=shape, chunks=(c, c), dtype="u4", fill_value=0)

    def window(self, y0, y1, x0, x1) -> np.ndarray:
        return np.asarray(self.array[y0:y1, x0:x1])

    def put(self, y0, x0, labels: np.ndarray) -> None:
        self.array[y0 : y0 + labels.shape[0], x0 : x0 + labels.shape[1]] = labels

    def whole(self) -> np.ndarray:
        return np.asarray(self.array[:])

    def lazy(self):
        import dask.array as da

        return da.from_zarr(self.array)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def write_labels(image: ZarrImage, name: str, labels) -> str:
    """`labels` (2-D NumPy or dask, the size of the image's level 0) written as the image's
    `labels/<name>` (replacing one of that name); returns its path."""
    try:
        import dask.array as da
        import zarr
        from ome_zarr.io import parse_url
        from ome_zarr.writer import write_labels as ome_write_labels
    except ImportError:
        raise ImportError(EXTRA) from None
    h0 = image.levels[0].shape[0]
    factors = [max(1, round(h0 / lv.shape[0])) for lv in image.levels[1:]]
    fmt = parse_url(image.path).fmt  # NGFF 0.4 (Zarr v2) images get 0.4 labels
    shutil.rmtree(os.path.join(image.path, "labels", name), ignore_errors=True)  # replaced
    group = zarr.open_group(image.path, mode="a")
    um = image.levels[0].um_per_px
    labels = labels if isinstance(labels, da.Array) else da.from_array(labels)
    c = min(CHUNK, max(labels.shape))
    labels = labels.rechunk((c, c))
    ome_write_labels(
        labels,
        group,
        name=name,
        scaler=None,
        scale_factors=factors,
        fmt=fmt,
        axes="yx",
        scale={"y": um[0], "x": um[1]} if um else None,
        axes_units={"y": "micrometer", "x": "micrometer"} if um else None,
        storage_options={"chunks": (c, c)},
    )
    _once(zarr.open_group(os.path.join(image.path, "labels"), mode="a"))
    return os.path.join(image.path, "labels", name)


def _once(labels_group) -> None:
    """ome-zarr appends a label's name to `labels` each time it is written: a label
    written again (a second segmentation) is listed once."""
    attrs = labels_group.attrs.asdict()
    holder = attrs.get("ome", attrs)  # NGFF 0.5 nests it under "ome"
    if len(set(holder.get("labels", []))) != len(holder.get("labels", [])):
        holder["labels"] = list(dict.fromkeys(holder["labels"]))
        labels_group.attrs.update(attrs)
