"""The napari reader: an HPA sample (`<id>_<colour>.png|jpg|tif`, colour one of red, green,
blue, yellow; its sibling channels found beside it), an OME-TIFF (channels named by OME
metadata), a folder holding one sample, or an OME-Zarr image (`<name>.zarr`; a plate or
series folder holding one field). One image layer per channel, in its colour, blended
additively, at the file's own size and dtype. Any other PNG, JPEG or TIFF is left to other
readers (None). A file gapnet cannot read raises `ImageError`, whose message (the file and
the reason) napari shows.

An OME-Zarr channel is a multiscale layer (its levels as lazy dask arrays: napari reads only
the level and the chunks it shows), named by its omero label, in the label's colour where
the label is one of the four colour names (else gray), with the level-0 micrometres per
pixel as its `scale` (none when the axes name no unit). Its metadata name the level the
widget segments (`gapnet_level`: `segment_level`), so the widget never loads level 0 of a
pyramid larger than an HPA field.

napari's own reader also takes these files (and napari-ome-zarr, where installed, .zarr
folders): `viewer.open(path)` uses napari's unless `plugin="gapnet"` is given, and
`napari FILE` asks which reader to use unless `--plugin gapnet` is given."""

from __future__ import annotations

import os
import re

from gapnet.classes import CHANNELS

EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
# an HPA sample's channel file, `<id>_<colour>.<ext>` with one of the four colours
SAMPLE_FILE = re.compile(r"^.+_(red|green|blue|yellow)\.(png|jpe?g|tiff?)$", re.IGNORECASE)
# what the reader says where it cannot tell a file's channels apart (napari has no flags)
NAME_CHANNELS = (
    "which channel is which is unknown: name the channels (red, green, blue, yellow) in "
    "the file's OME metadata (save it as OME-TIFF with channel names), or save each channel "
    "as <id>_<colour>.png beside the others and open one of them"
)
COLORMAPS = {"red": "red", "green": "green", "blue": "blue", "yellow": "yellow"}
ROLES = {"red": "microtubules", "green": "protein", "blue": "nucleus", "yellow": "ER"}
SEGMENT_SIDE = 2048  # an HPA field's side: the widget segments the coarsest level this large


def get_reader(path):
    """napari's reader hook: `read_field` for a file or folder gapnet may read, else None."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    path = str(path)
    from gapnet.data.ome_zarr import is_zarr

    if is_zarr(path.rstrip("/\\")):
        return read_zarr_layers if _ome_zarr(path.rstrip("/\\")) else None
    if os.path.isdir(path) or SAMPLE_FILE.match(os.path.basename(path)) or _named_tiff(path):
        return read_field_layers
    return None  # another PNG, JPEG or TIFF (a photo, a figure): left to other readers


def _named_tiff(path: str) -> bool:
    """Whether `path` is a TIFF whose channels are named (OME metadata)."""
    if not path.lower().endswith((".tif", ".tiff")):
        return False
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return bool(tif.is_ome)
    except Exception:  # tifffile raises many types for a file it cannot read
        return False


def _ome_zarr(path: str) -> bool:
    """Whether gapnet reads the Zarr at `path` (an OME-Zarr image, plate or series), so that
    another Zarr goes to another reader. Without ome-zarr installed: True (reading then
    names the extra to install)."""
    import importlib.util

    from gapnet.data.images import ImageError
    from gapnet.data.ome_zarr import open_images

    if importlib.util.find_spec("ome_zarr") is None:
        return True
    try:
        open_images(path)
    except ImageError:
        return False
    return True


def segment_level(image) -> int:
    """The level of a `ZarrImage` the widget segments: the coarsest whose sides are both at
    least `SEGMENT_SIDE` px (level 0 when none is; its whole level is then read)."""
    return image.level_for_size(SEGMENT_SIDE)


def read_zarr_layers(path) -> list[tuple]:
    """[(levels, layer kwargs, "image")] for each channel of the OME-Zarr field at `path`.

    Raises:
        ImageError: naming `path`: not an OME-Zarr image, or a plate / series of several."""
    from gapnet.data.images import ImageError
    from gapnet.data.ome_zarr import open_images

    path = str(path[0] if isinstance(path, list) else path).rstrip("/\\")
    images = open_images(path)
    if len(images) != 1:
        raise ImageError(path, f"{len(images)} images (a plate or series): open one field's folder")
    image = images[0]
    labels = image.channels or (["blue"] if image.n_channels == 1 else None)
    if labels is None:
        raise ImageError(path, "no omero channel labels: which channel is which is unknown")
    level = segment_level(image)
    um = image.levels[0].um_per_px
    keys = [lb.lower() if lb.lower() in CHANNELS else lb for lb in labels]
    meta = {"gapnet_sample": image.name, "gapnet_source": image, "gapnet_channels": keys}
    out = []
    for c, (label, key) in enumerate(zip(labels, keys, strict=True)):
        levels = [image.lazy(k, [c])[:, :, 0] for k in range(len(image.levels))]
        kwargs = {
            "name": f"{image.name} {label}" + (f" ({ROLES[key]})" if key in ROLES else ""),
            "colormap": COLORMAPS.get(key, "gray"),
            "blending": "additive",
            "multiscale": len(levels) > 1,
            "metadata": dict(meta, gapnet_channel=key, gapnet_level=level),
        }
        if um is not None:
            kwargs["scale"] = um
        out.append((levels if len(levels) > 1 else levels[0], kwargs, "image"))
    return out


def read_field_layers(path) -> list[tuple]:
    """[(plane, layer kwargs, "image")] for each channel of the sample at `path`.

    Raises:
        ImageError: naming the file; where its channels cannot be told apart, how to name
            them (`NAME_CHANNELS`)."""
    from gapnet.data.images import ImageError
    from gapnet.napari.analysis import read_field, sample_of

    path = str(path[0] if isinstance(path, list) else path)
    name, source = sample_of(path)
    try:
        planes = read_field(source)
    except ImageError as e:  # the CLI's advice (--channels) means nothing in napari
        if "which is which is unknown" not in e.reason:
            raise
        raise ImageError(e.path, NAME_CHANNELS) from None
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
