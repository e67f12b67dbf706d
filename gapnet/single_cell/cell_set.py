"""The cells of a set of fields, cached: each field's cell mask (given, or gapnet's own
segmentation) and its masked crops as uint8, one file per field, so that a killed run
keeps every field it finished and a second run reads instead of segmenting again.

Cache layout: `DIR/<Id>.npz` with `cells` (the field's label image at its own size,
cells renumbered 1..k in label order), `crops` ((k, s, s, 4) uint8, `crops.cell_crops`),
`edge` ((k,) bool: the field's border cuts the cell) and `source` (where the mask came
from: a file, or "gapnet segmentation, diameter D px"). A file is written atomically
and reused only when its crop size matches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

MASK_KINDS = ("cells", "predictedmask")  # gapnet's `<Id>_cells.png`, HPA-Cell-Segmentation's


@dataclass(frozen=True)
class CellSet:
    """Every cell of the fields `ids`, in field order, then cell-label order.

    Attributes:
        ids: the fields.
        masks: per field its label image (1..k).
        crops: (n_cells, s, s, 4) uint8 masked crops.
        image_of: (n_cells,) each cell's field (an index into `ids`).
        edge: (n_cells,) bool, the field's border cuts the cell.
        sources: per field where its mask came from.
    """

    ids: list
    masks: list
    crops: np.ndarray
    image_of: np.ndarray
    edge: np.ndarray
    sources: list

    def rows(self, n: int) -> slice:
        """The cells of field n, a slice of `crops`, `image_of` and `edge`."""
        start = int(np.searchsorted(self.image_of, n, "left"))
        return slice(start, int(np.searchsorted(self.image_of, n, "right")))


def relabel(cells: np.ndarray) -> np.ndarray:
    """Labels 1..k in label order (the crops' and scores' row order), whatever the mask
    used (gaps, any integer dtype)."""
    ids = np.unique(cells)
    ids = ids[ids > 0]
    lut = np.zeros(int(cells.max()) + 1 if cells.size else 1, np.int32)
    lut[ids] = np.arange(1, len(ids) + 1)
    return lut[cells]


def mask_labels(masks: str | None, sample_id: str, k: int) -> np.ndarray:
    """(k,) the mask file's own label of each renumbered cell 1..k (1..k for gapnet's
    own segmentation)."""
    from gapnet.data.labels import DataError
    from gapnet.segment import mask_path, read_mask

    if not masks:
        return np.arange(1, k + 1)
    path = next((p for kind in MASK_KINDS if (p := mask_path(masks, sample_id, kind))), None)
    if path is None:
        raise DataError(f"{masks}: no mask for {sample_id} (<Id>_cells.png or _predictedmask)")
    labels = np.unique(read_mask(path))
    labels = labels[labels > 0]
    if len(labels) != k:
        raise DataError(f"{path}: {len(labels)} cells, {k} when its cells were cut (changed?)")
    return labels


def native_size(image_dir: str, sample_id: str, ext: str = "png") -> int:
    """The side of a field's green file (fields are square in both HPA layouts).

    Raises:
        ImageError: the file is missing or not square, naming it."""
    from PIL import Image

    from gapnet.data.images import ImageError, channel_path

    path = channel_path(image_dir, sample_id, "green", ext)
    try:
        with Image.open(path) as im:
            w, h = im.size
    except OSError as e:
        raise ImageError(path, f"cannot read ({e})") from None
    if w != h:
        raise ImageError(path, f"{w}x{h}: single-cell fields must be square")
    return w


def field_cells(image: np.ndarray, masks: str | None, sample_id: str, diameter: float):
    """(cells 1..k, source) of one field: `masks/<Id>_cells.*` or `_predictedmask.*` when
    a folder is given (it must be the field's size), else gapnet's segmentation with the
    nucleus diameter `diameter` px at 512 (scaled to the field). Cells are renumbered
    1..k in label order (`mask_labels` gives the file's own labels back).

    Raises:
        DataError: a masks folder without this field's mask, or a mask of another size,
            naming the file."""
    from gapnet.data.labels import DataError
    from gapnet.segment import SegmentParams, mask_path, read_mask, segment_cells

    if masks:
        path = next((p for k in MASK_KINDS if (p := mask_path(masks, sample_id, k))), None)
        if path is None:
            raise DataError(f"{masks}: no mask for {sample_id} (<Id>_cells.png or _predictedmask)")
        labels = read_mask(path)
        if labels.shape != image.shape[:2]:
            raise DataError(
                f"{path}: mask is {labels.shape[1]}x{labels.shape[0]}, its field "
                f"{sample_id} {image.shape[1]}x{image.shape[0]}: masks must be at the field's size"
            )
        return relabel(labels), path
    d = diameter * image.shape[0] / 512
    cells = segment_cells(image, SegmentParams(nucleus_diameter=d))[0]
    return relabel(cells), f"gapnet segmentation, nucleus diameter {d:.0f} px"


def cell_set(
    image_dir: str,
    ids,
    cache: str,
    crop: int = 64,
    masks: str | None = None,
    diameter: float = 50.0,
    ext: str = "png",
    log=print,
) -> CellSet:
    """The cells of `ids` (fields read at their own size from `image_dir`), through the
    cache folder `cache` (see the module doc)."""
    from gapnet.data.images import read_sample
    from gapnet.io import atomic_write_bytes
    from gapnet.segment import edge_labels
    from gapnet.single_cell.crops import cell_crops

    os.makedirs(cache, exist_ok=True)
    masks_, crops, image_of, edge, sources = [], [], [], [], []
    made = 0
    for n, sid in enumerate(ids):
        path = os.path.join(cache, f"{sid}.npz")
        hit = None
        if os.path.isfile(path):
            with np.load(path, allow_pickle=False) as z:
                if z["crops"].shape[1:3] == (crop, crop):
                    hit = {k: z[k] for k in z.files}
        if hit is None:
            image = read_sample(image_dir, sid, native_size(image_dir, sid, ext), ext)
            cells, source = field_cells(image, masks, sid, diameter)
            c, labels = cell_crops(image, cells, crop)
            e = np.isin(labels, edge_labels(cells))
            import io

            buf = io.BytesIO()
            np.savez_compressed(buf, cells=cells, crops=c, edge=e, source=np.array(source))
            atomic_write_bytes(path, buf.getvalue())
            hit = {"cells": cells, "crops": c, "edge": e, "source": np.array(source)}
            made += 1
            if len(ids) >= 20 and made % (len(ids) // 10) == 0:
                log(f"cells: {n + 1}/{len(ids)} fields")
        masks_.append(hit["cells"].astype(np.int32))
        crops.append(hit["crops"])
        edge.append(hit["edge"].astype(bool))
        image_of += [n] * len(hit["crops"])
        sources.append(str(hit["source"]))
    log(
        f"cells: {len(image_of)} in {len(ids)} fields ({made} segmented and cropped now, "
        "the rest read from the cache)"
    )
    return CellSet(
        list(ids),
        masks_,
        np.concatenate(crops) if crops else np.zeros((0, crop, crop, 4), np.uint8),
        np.asarray(image_of, np.int64),
        np.concatenate(edge) if edge else np.zeros(0, bool),
        sources,
    )
