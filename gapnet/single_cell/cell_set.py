"""One field's cells: its given mask (`<Id>_cells.*` or HPA-Cell-Segmentation's
`<Id>_predictedmask.*`) or gapnet's segmentation at the nucleus size estimated from the
field (or a set one), renumbered 1..k in label order; the field's side. The cells of many
fields, on disk: `gapnet.single_cell.cell_cache`.
"""

from __future__ import annotations

import numpy as np

from gapnet.classes import CHANNELS

MASK_KINDS = ("cells", "predictedmask")  # gapnet's `<Id>_cells.png`, HPA-Cell-Segmentation's


def relabel(cells: np.ndarray) -> np.ndarray:
    """Labels 1..k in label order (the crops' and scores' row order), whatever the mask
    used (gaps, any integer dtype)."""
    ids = np.unique(cells)
    ids = ids[ids > 0]
    lut = np.zeros(int(cells.max()) + 1 if cells.size else 1, np.int32)
    lut[ids] = np.arange(1, len(ids) + 1)
    return lut[cells]


def find_mask(masks: str, sample_id: str) -> str:
    """The field's mask file in the folder `masks` (`<Id>_cells.*`, else `_predictedmask.*`).

    Raises:
        DataError: there is none, naming the folder and the field."""
    from gapnet.data.labels import DataError
    from gapnet.segment import mask_path

    path = next((p for kind in MASK_KINDS if (p := mask_path(masks, sample_id, kind))), None)
    if path is None:
        raise DataError(f"{masks}: no mask for {sample_id} (<Id>_cells.png or _predictedmask)")
    return path


def mask_labels(masks: str | None, sample_id: str, k: int) -> np.ndarray:
    """(k,) the mask file's own label of each renumbered cell 1..k (1..k for gapnet's
    own segmentation)."""
    from gapnet.data.labels import DataError
    from gapnet.segment import read_mask

    if not masks:
        return np.arange(1, k + 1)
    path = find_mask(masks, sample_id)
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


def field_cells(image: np.ndarray, masks: str | None, sample_id: str, diameter=None):
    """(cells 1..k, source) of one field (`cells_of`)."""
    return cells_of(image, masks, sample_id, diameter)[:2]


def cells_of(image: np.ndarray, masks: str | None, sample_id: str, diameter=None):
    """(cells 1..k, source, the mask's own label of each cell, nucleus diameter used in px
    or None) of one field: `masks/<Id>_cells.*` or `_predictedmask.*` when a folder is
    given (it must be the field's size), else gapnet's segmentation, with the nucleus
    diameter estimated from the field (`diameter` None, the default) or `diameter` px at
    512 scaled to the field. Cells are renumbered 1..k in label order.

    Raises:
        DataError: a masks folder without this field's mask, or a mask of another size,
            naming the file."""
    from gapnet.data.labels import DataError
    from gapnet.segment import SegmentParams, grow_cells, read_mask

    if masks:
        path = find_mask(masks, sample_id)
        labels = read_mask(path)
        if labels.shape != image.shape[:2]:
            raise DataError(
                f"{path}: mask is {labels.shape[1]}x{labels.shape[0]}, its field "
                f"{sample_id} {image.shape[1]}x{image.shape[0]}: masks must be at the field's size"
            )
        own = np.unique(labels)
        return relabel(labels), path, own[own > 0], None
    d = None if diameter is None else diameter * image.shape[0] / 512
    blue = image[..., CHANNELS.index("blue")]
    body = [image[..., CHANNELS.index(c)] for c in ("red", "yellow")]
    cells, _, used = grow_cells(blue, body, SegmentParams(nucleus_diameter=d))
    how = "estimated" if d is None else "set"
    cells = relabel(cells)
    own = np.arange(1, cells.max() + 1)
    return cells, f"gapnet segmentation, nucleus diameter {how}", own, used


def cell_set(*args, **kwargs):
    """The cells of many fields, on disk: `gapnet.single_cell.cell_build.cell_set`."""
    from gapnet.single_cell.cell_build import cell_set as build

    return build(*args, **kwargs)
