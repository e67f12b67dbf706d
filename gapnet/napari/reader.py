"""The napari reader: an HPA sample (`<id>_<colour>.png|jpg|tif`, its sibling channels
found beside it), a multi-channel TIFF / OME-TIFF (channels named by OME metadata), or a
folder holding one sample. One image layer per channel, in its colour, blended additively,
at the file's own size and dtype. A file gapnet cannot read raises `ImageError`, whose
message (the file and the reason) napari shows. OME-Zarr is not read (gapnet.data has no
OME-Zarr reader yet)."""

from __future__ import annotations

import os

from gapnet.classes import CHANNELS

EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
COLORMAPS = {"red": "red", "green": "green", "blue": "blue", "yellow": "yellow"}
ROLES = {"red": "microtubules", "green": "protein", "blue": "nucleus", "yellow": "ER"}


def get_reader(path):
    """napari's reader hook: `read_field` for a file or folder gapnet may read, else None."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    path = str(path)
    if os.path.isdir(path) or path.lower().endswith(EXTENSIONS):
        return read_field_layers
    return None


def read_field_layers(path) -> list[tuple]:
    """[(plane, layer kwargs, "image")] for each channel of the sample at `path`."""
    from gapnet.napari.analysis import read_field, sample_of

    path = str(path[0] if isinstance(path, list) else path)
    name, source = sample_of(path)
    planes = read_field(source)
    meta = {"gapnet_sample": name, "gapnet_source": source, "gapnet_channels": list(planes)}
    return [
        (
            planes[c],
            {
                "name": f"{name} {c} ({ROLES[c]})",
                "colormap": COLORMAPS[c],
                "blending": "additive",
                "metadata": dict(meta, gapnet_channel=c),
            },
            "image",
        )
        for c in CHANNELS
        if c in planes
    ]
