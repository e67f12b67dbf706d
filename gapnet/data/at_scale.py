"""Reading a user's image at a run's pixel size: the model's input windows of one image
(`gapnet.data.microscope`), resampled first to the µm/px the run was trained at
(`gapnet.data.pixel_size`).

- The run's pixel size unknown (a run older than `Config.pixel_size`, or trained without
  it): the image is resized to the model's size whatever its µm/px, as before.
- The run's known and the image's known (its file's metadata, else `given`, the
  command's `--pixel-size`): resampled to the run's µm/px, one note saying by how much
  ("resampled 2048→512 px: 0.08 → 0.32 µm/px").
- The run's known and the image's unknown: a warning naming the file; the image is
  predicted at its own size, its pixels taken as the run's µm/px (never resized silently).

Then the image is cut into the model's square windows (`pixel_size.tiles`: one, padded (a note
says so), when it is no larger; else overlapping windows covering it, whose probabilities the caller
averages).

`check_folder_scale`: the same rule for the whole fields of a Kaggle-layout folder that
explain.py reads at the model's size.
"""

from __future__ import annotations

import os

import numpy as np

from gapnet.data.images import ImageError
from gapnet.data.microscope import read_image
from gapnet.data.ome_zarr import ZarrImage
from gapnet.data.pixel_size import (
    ISOTROPIC,
    PixelSize,
    read_pixel_size,
    resample,
    resample_note,
    resampled_shape,
    tiles,
)


def where(name: str, source) -> str:
    """The file that names an entry of `find_images` (a TIFF, an OME-Zarr image, or
    `<dir>/<stem>_*`)."""
    if isinstance(source, ZarrImage):
        return source.path
    if isinstance(source, str):
        return source
    return os.path.join(os.path.dirname(next(iter(source.values()))), f"{name}_*")


def source_pixel_size(source) -> PixelSize | None:
    """The pixel size the files of an entry of `find_images` declare (the first that does;
    an OME-Zarr image's level 0)."""
    if isinstance(source, ZarrImage):
        um = source.levels[0].um_per_px
        return PixelSize(um[0], um[1], "OME-Zarr") if um else None
    files = [source] if isinstance(source, str) else list(source.values())
    for f in files:
        ps = read_pixel_size(f)
        if ps is not None:
            return ps
    return None


def header_size(source) -> tuple[int, int] | None:
    """(H, W) of an entry of `find_images` from its file's header, without reading its
    pixels (a TIFF's first series, a PNG / JPEG's first channel file); None where the
    header does not say or the file is unreadable (reading it then names the problem)."""
    try:
        if isinstance(source, str) and source.lower().endswith((".tif", ".tiff")):
            import tifffile

            with tifffile.TiffFile(source) as tif:
                series = tif.series[0]
                dims = dict(zip(series.axes, series.shape, strict=True))
            return (dims["Y"], dims["X"]) if "Y" in dims and "X" in dims else None
        path = source if isinstance(source, str) else next(iter(source.values()))
        import warnings

        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's DecompressionBombWarning, as images.py
            with Image.open(path) as im:
                return im.size[1], im.size[0]
    except Exception:  # unreadable or unusual: the full read reports it
        return None


def image_pixel_size(name: str, source, given: float | None, log=None) -> PixelSize | None:
    """The file's own pixel size, else `given` (--pixel-size), else None; `log` notes a
    file whose metadata differs from `given` (the file's is used)."""
    ps = source_pixel_size(source)
    if ps is None:
        return PixelSize(given, given, "--pixel-size") if given else None
    if given and abs(ps.x - given) > ISOTROPIC * given and log is not None:
        log(
            f"note: {where(name, source)}: its metadata says {ps} µm/px ({ps.source}); "
            f"--pixel-size {given} is for files without one: {ps} used"
        )
    return ps


def read_windows(
    name: str,
    source,
    size: int,
    run_um: float | None,
    given_um: float | None = None,
    channels=None,
    channel_set=None,
    notes=None,
    log=None,
) -> np.ndarray:
    """(n, size, size, C) uint8 windows of one image at the run's pixel size `run_um`
    (n = 1 unless the resampled image is larger than `size`); `log` gets the resampling
    note or the unknown-size warning, naming the file.

    Raises:
        ImageError / PixelSizeError: naming the file."""
    if run_um is None:
        return read_image(source, size, channels, channel_set, notes)[None]
    ps = image_pixel_size(name, source, given_um, log)
    hw = header_size(source)
    if ps is not None and hw is not None:  # refused before the pixels are read
        resampled_shape(hw, (ps.y, ps.x), run_um, where(name, source))
    image = read_image(source, None, channels, channel_set, notes)
    say = log or (lambda m: None)
    if ps is None:
        say(
            f"warning: {where(name, source)}: pixel size unknown (no metadata, no "
            f"--pixel-size): predicted at its own size, {image.shape[1]}x{image.shape[0]} px "
            f"taken as the run's {run_um:.4g} µm/px"
        )
    else:
        before = image.shape
        image, _ = resample(image, (ps.y, ps.x), run_um, where(name, source))
        say(resample_note(where(name, source), before, image.shape, ps, run_um) + f" ({ps.source})")
    out = tiles(image, size)
    if image.shape[0] < size or image.shape[1] < size:
        say(
            f"note: {where(name, source)}: {image.shape[1]}x{image.shape[0]} px at the run's "
            f"scale, smaller than the model's {size}-px window: padded with black (the "
            "model sees a smaller field than it was trained on)"
        )
    if len(out) > 1:
        say(
            f"note: {where(name, source)}: {image.shape[1]}x{image.shape[0]} px at the run's "
            f"scale: {len(out)} windows of {size} px, probabilities averaged"
        )
    return out


def check_folder_scale(src, ids, size: int, run_um, given_um, log) -> None:
    """For the whole fields of a Kaggle-layout folder (`gapnet.data.source`), read at the
    model's `size` (explain.py --data): resizing a field of side N at `given_um` µm/px to
    `size` px is resampling it to the run's `run_um` when N x given / run == size; `log`
    says so ("resampled 2048→512 px: 0.08 → 0.32 µm/px"), once per field size.

    - `run_um` None: the run records no pixel size; a note (and `given_um` unused).
    - `given_um` None: a warning naming the folder: read at the model's size as before.

    Raises:
        ImageError: naming a file whose field at the run's pixel size would not be the
            model's size (explain reads whole fields only; predict.py --images cuts
            larger ones into windows)."""
    from PIL import Image

    if run_um is None:
        log(
            f"note: the run records no pixel size: the images are resized to {size} px "
            "whatever their µm/px" + (f" (--pixel-size {given_um} unused)" if given_um else "")
        )
        return
    if given_um is None:
        log(
            f"warning: {src.image_dir}: the images' pixel size is unknown (--pixel-size): "
            f"read at the model's {size} px as before, their scale unchecked against the "
            f"run's {run_um:g} µm/px"
        )
        return
    sides: dict = {}
    for sid in ids:
        path = src.paths(sid)[0]
        try:
            with Image.open(path) as im:
                w, h = im.size
        except (OSError, ValueError) as e:
            raise ImageError(path, f"cannot read its size ({e})") from None
        sides.setdefault((w, h), [path, 0])[1] += 1
    for (w, h), (path, n) in sides.items():
        at = (round(h * given_um / run_um), round(w * given_um / run_um))
        if max(abs(at[0] - size), abs(at[1] - size)) > max(1, 0.02 * size):
            raise ImageError(
                path,
                f"{w}x{h} px at {given_um:g} µm/px is {at[1]}x{at[0]} px at the run's "
                f"{run_um:g} µm/px, not the model's {size}: explain reads whole fields at the "
                "model's size (predict.py --images cuts larger fields into windows)",
            )
        where = f"{src.image_dir} ({n} image{'s' if n > 1 else ''} of {w}x{h} px)"
        log(resample_note(where, (h, w), (size, size), given_um, run_um))


def window_batches(
    name: str,
    source,
    size: int,
    run_um: float | None,
    given_um: float | None = None,
    channels=None,
    channel_set=None,
    notes=None,
    log=None,
):
    """`read_windows` as batches of windows (arrays (k, size, size, C)). An OME-Zarr image
    with physical pixel sizes is read window by window from its level nearest `run_um`
    (`ome_zarr_sample.zarr_windows`), so a 20,000-px field is never held whole; one
    without them takes `given_um` (--pixel-size) for level 0, else is read as one field
    at the model's size, with the unknown-size warning."""
    if not isinstance(source, ZarrImage) or run_um is None:
        windows = read_windows(
            name, source, size, run_um, given_um, channels, channel_set, notes, log
        )
        for i in range(0, len(windows), 16):  # the model gets a batch, not a field's windows
            yield windows[i : i + 16]
        return
    from gapnet.data.ome_zarr_sample import read_zarr, zarr_windows

    say = log or (lambda m: None)
    if source.levels[0].um_per_px is None and given_um:
        source = source.with_pixel_size(given_um)
        say(f"note: {source.path}: its axes have no unit: level 0 taken as --pixel-size {given_um}")
    if source.levels[0].um_per_px is None:
        say(
            f"warning: {source.path}: pixel size unknown (its axes have no unit): predicted "
            f"as one field resized to {size} px, as without a run pixel size"
        )
        yield read_zarr(source, size, channels, channel_set, notes)[None]
        return
    k = source.level_for_um(run_um)
    say(
        f"note: {source.path}: read from level {k} ({source.levels[k].um_per_px[1]:.4g} µm/px) "
        f"window by window, resampled to the run's {run_um:.4g} µm/px"
    )
    yield from zarr_windows(source, size, run_um, channels, channel_set, notes)
