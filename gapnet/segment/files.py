"""Segmenting a user's own image files (outside the Kaggle layout) at their own size.

What is read follows `experiments/predict.py --images` (`gapnet.data.microscope`): a TIFF
file, or a folder of TIFF files, per-channel files `<stem>_<color>.<ext>` and lone
single-channel images (nucleus images), and OME-Zarr images (segmented tile by tile,
`gapnet.segment.tiled`; masks also written into them as NGFF labels). Any subset of the
channels with a blue (nucleus) one: cells are grown where red and/or yellow (or green when
it is the only other) exist. In a folder, files named `<stem>_nuclei.<ext>` /
`<stem>_cells.<ext>` (masks, such as this module writes) are not read as images.

Writes `<out>/<stem>_nuclei.png` and, with a cytoplasm channel, `<out>/<stem>_cells.png`
(16-bit labels at the image's size), and `<out>/segmentation.csv`: per image its size, the
nucleus diameter used and whether it was given or estimated, the counts, the labels of
the cells (or nuclei) cut by the image's edge, a `warning` (no nuclei found: no mask is
wrong, but nothing was found) and an `error` (the image could not be segmented; its masks
are not written). One bad image does not stop the others.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from gapnet.classes import CHANNELS
from gapnet.data.images import ImageError, require_finite
from gapnet.data.ome_zarr import ZarrImage
from gapnet.segment.cells import SegmentParams, edge_labels, grow_cells
from gapnet.segment.folder import NO_NUCLEI, SEGMENTATION_FIELDS, write_segmentation_csv
from gapnet.segment.masks import resize_labels, write_mask

CYTOPLASM = ("red", "yellow")  # microtubules, ER: the HPA cell-body markers
MASK_KINDS = ("_nuclei", "_cells")  # stems of mask files, never read as images
FIELDS = SEGMENTATION_FIELDS


def body_planes(planes: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The cytoplasm planes to grow cells on: red and yellow where present, else green (the
    protein) when it is the only other channel, else none."""
    body = [planes[c] for c in CYTOPLASM if c in planes]
    if not body and "green" in planes:
        body = [planes["green"]]
    return body


def check_planes(planes: dict[str, np.ndarray], where: str) -> tuple[int, int]:
    """The (height, width) of an image's planes; raises ImageError naming `where` for no
    blue plane, planes of different sizes, NaN / infinite pixels or a blank nucleus plane."""
    if "blue" not in planes:
        raise ImageError(where, f"no blue (nucleus) channel among {sorted(planes)}")
    shape = planes["blue"].shape[:2]
    for c, plane in planes.items():
        if plane.shape[:2] != shape:
            raise ImageError(where, f"{c} is {plane.shape[:2]}, blue is {shape}: sizes differ")
        require_finite(plane, where)
    blue = planes["blue"]
    if blue.size == 0:
        raise ImageError(where, "empty image (no pixels)")
    if blue.min() == blue.max():
        raise ImageError(where, f"blank nucleus (blue) plane: every pixel is {blue.flat[0]}")
    return shape


def segment_one(
    name: str,
    planes: dict[str, np.ndarray],
    p: SegmentParams,
    out: str,
    where: str = "",
    mask_shape=None,
) -> dict:
    """Segments one image's planes, writes its masks into `out`, returns its CSV row;
    `where` (its file) names it in errors and warnings. When no nucleus is found the masks
    are written (all background), the row's `warning` says so and so does stderr. With
    `mask_shape` (the image's own size, when its planes were resampled to another pixel
    size) the masks are written at that size (nearest neighbour).

    Raises:
        ImageError: see `check_planes`, or more than 65,535 objects (nothing written)."""
    where = where or name
    shape = check_planes(planes, where)
    body = body_planes(planes)
    cells, nuclei, diameter = grow_cells(planes["blue"], body, p)
    if mask_shape is not None and tuple(mask_shape) != tuple(shape):
        cells, nuclei = resize_labels(cells, mask_shape), resize_labels(nuclei, mask_shape)
        shape = tuple(mask_shape)
    write_mask(os.path.join(out, f"{name}_nuclei.png"), nuclei, where)
    if body:
        write_mask(os.path.join(out, f"{name}_cells.png"), cells, where)
    warning = ""
    if nuclei.max() == 0:
        warning = NO_NUCLEI
        print(f"warning: {where}: {NO_NUCLEI} (empty masks written)", file=sys.stderr)
    return {
        "image": name,
        "file": where,
        "height": shape[0],
        "width": shape[1],
        "nucleus_diameter": round(diameter, 1),
        "diameter": "given" if p.nucleus_diameter else "estimated",
        "method": p.method,
        "nuclei": int(nuclei.max()),
        "cells": int(cells.max()) if body else "",
        "edge": " ".join(str(i) for i in edge_labels(cells if body else nuclei)),
        "warning": warning,
        "error": "",
    }


def _zarr_row(image, out, p, channels, channel_map, tile, overlap) -> dict:
    from gapnet.segment.tiled import OVERLAP, TILE, segment_zarr

    try:
        overlap = OVERLAP if overlap is None else overlap
        return segment_zarr(image, out, p, channels, channel_map, tile or TILE, overlap)
    except ImageError as e:
        return _row_error(image.name, image.path, e)


def _zarr_params(image, p: SegmentParams, target_um: float, log) -> SegmentParams:
    """`p` for an OME-Zarr image segmented at its full resolution, not at `target_um`: a
    nucleus diameter given in pixels at `target_um` converted to level 0's pixels."""
    from dataclasses import replace

    um = image.levels[0].um_per_px
    if not p.nucleus_diameter:
        log(f"note: {image.path}: segmented at its full resolution (OME-Zarr), not resampled")
        return p
    if um is None:
        log(
            f"warning: {image.path}: pixel size unknown (its axes have no unit): segmented at "
            f"its full resolution with the nucleus diameter as given ({p.nucleus_diameter:g} px)"
        )
        return p
    d = p.nucleus_diameter * target_um / um[1]
    log(
        f"note: {image.path}: segmented at its full resolution ({um[1]:.4g} µm/px, OME-Zarr), "
        f"not resampled: nucleus diameter {p.nucleus_diameter:g} px at {target_um:g} µm/px "
        f"= {d:.4g} px"
    )
    return replace(p, nucleus_diameter=d)


def _row_error(name: str, where: str, e: Exception) -> dict:
    row = dict.fromkeys(FIELDS, "")
    row.update(image=name, file=where, error=str(e))
    return row


def at_pixel_size(name, src, planes, given_um, target_um, log):
    """`planes` resampled to `target_um` µm/px from the image's own (its file's metadata,
    else `given_um`), with a note; unchanged, with a warning naming the file, when the
    image's pixel size is unknown."""
    from gapnet.data.at_scale import image_pixel_size, where
    from gapnet.data.pixel_size import resample, resample_note

    ps = image_pixel_size(name, src, given_um, log)
    shape = next(iter(planes.values())).shape[:2]
    if ps is None:
        log(
            f"warning: {where(name, src)}: pixel size unknown (no metadata, no --pixel-size): "
            f"segmented at its own size, {shape[1]}x{shape[0]} px taken as {target_um:g} µm/px"
        )
        return planes
    planes = {
        c: resample(v, (ps.y, ps.x), target_um, where(name, src))[0] for c, v in planes.items()
    }
    after = next(iter(planes.values())).shape[:2]
    log(resample_note(where(name, src), shape, after, ps, target_um) + f" ({ps.source})")
    return planes


def _read_mapped(src, channels, to_role: dict) -> dict:
    """`read_planes` of one image, its channel names (a per-channel file's, given in
    `channels`, or OME) turned into roles by `to_role` ({name lower-cased: role}); planes
    whose name is no role are dropped."""
    from gapnet.data.microscope import read_planes

    if not to_role:
        return read_planes(src, channels)
    if isinstance(src, dict):
        src = {to_role.get(k.lower(), k.lower()): f for k, f in src.items()}
        src = {k: f for k, f in src.items() if k in CHANNELS}
    elif channels:
        channels = [to_role.get(c.lower(), c.lower()) for c in channels]
    planes = read_planes(src, channels)
    planes = {to_role.get(k.lower(), k.lower()): v for k, v in planes.items()}
    return {k: v for k, v in planes.items() if k in CHANNELS}


def segment_images(
    path: str,
    out: str,
    channels=None,
    p: SegmentParams | None = None,
    *,
    channel_map: dict | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    given_um: float | None = None,
    target_um: float | None = None,
    log=None,
):
    """Segments every image at `path` into `out` (created); returns the CSV rows, also
    written to `out/segmentation.csv`. An image that cannot be read or segmented gets a row
    with its `error` (the file named) and the others go on; callers check `error`.
    An OME-Zarr image is segmented tile by tile (`tile`, `overlap` px; defaults in
    `gapnet.segment.tiled`), its channels named by its omero labels through `channel_map`
    ({name: role}), and its masks are also written into it as NGFF labels. The same map
    names the channels of plain files: `<stem>_<name>` per-channel files, a TIFF's OME
    channel names, and the names `channels` gives in file order (case-insensitive).

    With `target_um`, each image is resampled first to that many µm per pixel from its own
    pixel size (its file's metadata, else `given_um`), one note each in `log` (default
    stderr), segmented there (a nucleus diameter given in `p` is in pixels at
    `target_um`), and its masks written back at the image's own size; an image whose pixel
    size is unknown is segmented at its own size with a warning naming it.

    Raises:
        ImageError: `path` missing or holding no image file."""
    from gapnet.data.microscope import find_images

    p = p or SegmentParams()
    log = log or (lambda m: print(m, file=sys.stderr))
    to_role = {k.lower(): v for k, v in (channel_map or {}).items()}
    found = find_images(path, lone=True, names=CHANNELS + tuple(channel_map or ()))
    if os.path.isdir(path):  # masks (a rerun with --out == --images) are not images
        found = [(n, s) for n, s in found if not (isinstance(s, str) and n.endswith(MASK_KINDS))]
    os.makedirs(out, exist_ok=True)
    rows = []
    for name, src in found:
        if isinstance(src, ZarrImage):
            if src.levels[0].um_per_px is None and given_um:  # axes without a unit
                src = src.with_pixel_size(given_um)
            zp = _zarr_params(src, p, target_um, log) if target_um else p
            rows.append(_zarr_row(src, out, zp, channels, channel_map, tile, overlap))
            continue
        where = src if isinstance(src, str) else os.path.join(path, f"{name}_*")
        try:
            planes = _read_mapped(src, channels, to_role)
            own = next(iter(planes.values())).shape[:2]
            if target_um:
                planes = at_pixel_size(name, src, planes, given_um, target_um, log)
            rows.append(segment_one(name, planes, p, out, where, own))
        except ImageError as e:
            rows.append(_row_error(name, where, e))
    write_segmentation_csv(os.path.join(out, "segmentation.csv"), rows)
    return rows
