"""Segmenting an OME-Zarr field tile by tile, in bounded memory, into one mask.

The field is read at level 0 (its own pixels, as PNGs are segmented) in `tile` x `tile`
windows that overlap their neighbours by `overlap` px (`ZarrImage.tiles`). Each window is
segmented on its own (`grow_cells`: nuclei, then cells grown from them), with one nucleus
diameter for the whole field (given, or estimated once on the centre tile), and an object
(a nucleus and its cell, which share a label) is kept only by the tile whose *core* holds
its nucleus' centroid: the cores partition the field, so each object is counted once,
however many tiles see it. A kept object is seen whole when it reaches at most
`overlap` / 2 px beyond its centroid (the core lies `overlap` / 2 inside the tile's inner
edges): give an overlap of at least the largest cell's diameter (the default, 512 px, is
about two HPA cells across at 2048 px). Kept objects are numbered in tile order and
written into the field's mask where it is still background (a neighbour's object keeps
its pixels where two grown cells meet).

Writes the masks as NGFF labels into the image (`labels/nuclei`, `labels/cells`,
`gapnet.segment.zarr_labels`) and, for fields up to `PNG_PIXELS`, as the 16-bit PNGs
`segment.py --images` writes for other images; a larger field's PNG would need the whole
mask in memory, so it gets the labels only (its row's `warning` says so).
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from gapnet.classes import CHANNELS
from gapnet.data.images import MAX_PIXELS, ImageError
from gapnet.data.ome_zarr import ZarrImage
from gapnet.segment.cells import SegmentParams, grow_cells, nuclei_and_diameter
from gapnet.segment.masks import write_mask

TILE, OVERLAP = 2048, 512
PNG_PIXELS = MAX_PIXELS  # 4,096 x 4,096: the largest PNG gapnet reads
CYTOPLASM = ("red", "yellow")


def roles_of(image: ZarrImage, channels=None, channel_map=None) -> dict[str, int]:
    """{role: channel index} of the planes to segment on: blue (the nuclei) first, then the
    cell-body planes (red and yellow, else green; see `gapnet.segment.files`), from the
    image's omero labels (else `channels`, file order) read through `channel_map`
    ({name: role}) or as gapnet's colour names.

    Raises:
        ImageError: no blue (nucleus) channel among them."""
    from gapnet.data.ome_zarr_sample import channel_names

    names = channel_names(image, channels)
    by_name = {k.lower(): v for k, v in (channel_map or {}).items()}
    found: dict[str, int] = {}
    for i, name in enumerate(names):
        role = by_name.get(name.lower()) if channel_map else name.lower()
        if role in CHANNELS and role not in found:
            found[role] = i
    if "blue" not in found:
        raise ImageError(image.path, f"no blue (nucleus) channel among {names}")
    body = [c for c in CYTOPLASM if c in found] or (["green"] if "green" in found else [])
    return {"blue": found["blue"], **{c: found[c] for c in body}}


def _planes(image: ZarrImage, roles: dict[str, int], t) -> tuple[np.ndarray, list[np.ndarray]]:
    win = image.region(0, t.y0, t.y1, t.x0, t.x1, list(roles.values()))
    planes = {r: np.ascontiguousarray(win[..., k]) for k, r in enumerate(roles)}
    return planes.pop("blue"), list(planes.values())


def _kept(nuclei: np.ndarray, t) -> np.ndarray:
    """The labels of `nuclei` (a tile's) whose centroid lies in the tile's core."""
    from scipy import ndimage as ndi

    ids = np.arange(1, int(nuclei.max()) + 1)
    if not len(ids):
        return ids
    cy, cx = np.asarray(ndi.center_of_mass(nuclei > 0, nuclei, ids)).T
    cy0, cy1, cx0, cx1 = t.core
    inside = (cy + t.y0 >= cy0) & (cy + t.y0 < cy1) & (cx + t.x0 >= cx0) & (cx + t.x0 < cx1)
    return ids[inside & np.isfinite(cy)]


def segment_zarr(
    image: ZarrImage,
    out: str,
    p: SegmentParams | None = None,
    channels=None,
    channel_map=None,
    tile: int = TILE,
    overlap: int = OVERLAP,
) -> dict:
    """Segments `image` tile by tile (the module's rules); writes its labels and PNGs;
    returns its `segmentation.csv` row (the fields of `gapnet.segment.files`).

    Raises:
        ImageError: naming the image (no blue channel, unreadable chunks)."""
    from gapnet.segment.zarr_labels import LabelCanvas, write_labels

    p = p or SegmentParams()
    roles = roles_of(image, channels, channel_map)
    h, w = image.levels[0].shape
    tiles = list(image.tiles(0, tile, overlap))
    given = p.nucleus_diameter is not None
    if not given:  # one diameter for the whole field: tiles must agree on what a nucleus is
        blue, _ = _planes(image, roles, tiles[len(tiles) // 2])
        if blue.min() == blue.max():
            raise ImageError(image.path, "blank nucleus (blue) plane in the centre tile")
        p = replace(p, nucleus_diameter=nuclei_and_diameter(blue, p)[1])
    stem = image.name.replace("/", "_")
    os.makedirs(out, exist_ok=True)
    canvases = {  # hidden (a leading '.'): never read as images if a run is killed
        k: LabelCanvas(os.path.join(out, f".{stem}_{k}.tmp.zarr"), (h, w))
        for k in ("nuclei", "cells")
    }
    has_body = len(roles) > 1
    n, edge = 0, []
    try:
        for t in tiles:
            blue, body = _planes(image, roles, t)
            if blue.min() == blue.max():
                continue  # a blank tile: no nucleus to find
            cells, nuclei, _ = grow_cells(blue, body, p)
            keep = _kept(nuclei, t)
            if not len(keep):
                continue
            new = np.zeros(int(nuclei.max()) + 1, np.uint32)
            new[keep] = np.arange(n + 1, n + 1 + len(keep), dtype=np.uint32)
            n += len(keep)
            for kind, lab in (("nuclei", nuclei), ("cells", cells)):
                if kind == "cells" and not has_body:
                    continue
                mine = new[lab]
                c = canvases[kind]
                old = c.window(t.y0, t.y1, t.x0, t.x1)
                c.put(t.y0, t.x0, np.where(old == 0, mine, old))
            edge += _edge(new[cells if has_body else nuclei], t, h, w)
        warning = _write(image, stem, out, canvases, has_body, n, write_labels)
    finally:
        for c in canvases.values():
            c.remove()
    return {
        "image": image.name,
        "file": image.path,
        "height": h,
        "width": w,
        "nucleus_diameter": round(p.nucleus_diameter, 1),
        "diameter": "given" if given else "estimated",
        "method": p.method,
        "nuclei": n,
        "cells": n if has_body else "",
        "edge": " ".join(str(i) for i in sorted(set(edge))),
        "warning": warning,
        "error": "",
    }


def _edge(labels: np.ndarray, t, h: int, w: int) -> list[int]:
    """Kept labels of a tile touching the field's border (only tiles at the border can)."""
    sides = [labels[0]] if t.y0 == 0 else []
    sides += [labels[-1]] if t.y1 == h else []
    sides += [labels[:, 0]] if t.x0 == 0 else []
    sides += [labels[:, -1]] if t.x1 == w else []
    if not sides:
        return []
    return [int(v) for v in np.unique(np.concatenate(sides)) if v]


def _write(image, stem, out, canvases, has_body, n, write_labels) -> str:
    from gapnet.segment.folder import NO_NUCLEI

    h, w = image.levels[0].shape
    kinds = ("nuclei", "cells") if has_body else ("nuclei",)
    for kind in kinds:
        write_labels(image, kind, canvases[kind].lazy())
    notes = []
    if h * w <= PNG_PIXELS and n <= 65535:
        for kind in kinds:
            write_mask(os.path.join(out, f"{stem}_{kind}.png"), canvases[kind].whole(), image.path)
    else:
        notes.append(f"no PNG masks ({h}x{w} px, {n} objects): labels in the OME-Zarr only")
    if n == 0:
        notes.append(NO_NUCLEI)
    return "; ".join(notes)
