"""The field open in napari, as the widget segments and classifies it: its sample's name,
its source, each channel's plane (an OME-Zarr channel's one level, read whole) and the
world size of a plane's pixel."""

from __future__ import annotations

import numpy as np

from gapnet.napari.analysis import FieldError


def open_field(viewer):
    """(name, source, {colour: plane}, scale) of the open field: the selected gapnet
    image layer's sample, else the first one; `scale` is the world size of a plane's
    pixel (y, x). An OME-Zarr channel's plane is its level `gapnet_level` (the reader's
    `segment_level`), read whole: never level 0 of a larger pyramid."""
    found = [x for x in viewer.layers if "gapnet_source" in x.metadata]
    if not found:
        raise FieldError(
            "no field open: File > Open an HPA sample (<id>_<colour>.png), a TIFF or a .zarr"
        )
    active = viewer.layers.selection.active
    pick = active if active in found else found[0]
    name = pick.metadata["gapnet_sample"]
    mine = [x for x in found if x.metadata["gapnet_sample"] == name]
    planes, scale = {}, None
    for x in mine:
        planes[x.metadata["gapnet_channel"]], scale = plane(x)
    return name, pick.metadata["gapnet_source"], planes, scale


def plane(layer):
    """(the layer's plane as NumPy, the world size (y, x) of its pixel): level
    `gapnet_level` of a multiscale layer (world scale times its downsampling), else the
    layer's data."""
    scale = np.asarray(layer.scale[-2:], float)
    if not layer.multiscale:
        return np.asarray(layer.data), tuple(scale)
    k = layer.metadata.get("gapnet_level", 0)
    top, level = layer.data[0].shape, layer.data[k]
    factor = [a / b for a, b in zip(top[-2:], level.shape[-2:], strict=True)]
    return np.asarray(level), tuple(scale * factor)
