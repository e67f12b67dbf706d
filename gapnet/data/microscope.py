"""A user's own microscope images: multi-channel TIFF / OME-TIFF files, or one file per
channel, read as gapnet samples (uint8 (size, size, C) in the order of a model's channel
set, `gapnet.channels`; the four `CHANNELS` by default).

- A model's channel set names each role's file channel (`GFP=green`): a TIFF's channel
  names (given or OME) and a per-channel file's `<stem>_<name>` are matched to them
  (case-insensitively). A sample lacking one of the model's channels is refused, naming
  the file and the channel; a channel the model does not use is dropped (one note).

- Multi-channel TIFF: channels first (CYX, as microscopes write them) or last (YXC); the
  channel axis is the one tifffile names C, S or Q, else the axis of length 4. Which
  channel is which comes from `channels` (e.g. ("red", "green", "blue", "yellow"), one
  name per channel in file order) or from OME metadata whose channel names are gapnet's
  colour names; without either, the file is refused (`gapnet.data.tiff`).
- One file per channel: `<stem>_<color>.<png|jpg|tif|tiff>` in a folder (as in Kaggle).
- OME-Zarr (`<name>.zarr`, a plate, or a folder holding them): read lazily, the field
  downsampled from the level nearest the model's size (`gapnet.data.ome_zarr_sample`); its
  channel names are the omero labels, matched as a TIFF's OME names are.
- 8- or 16-bit (scaled by the dtype range, never clipped: `gapnet.data.images`), any size
  (resized as training resized).
- For segmentation (`read_planes`): any subset of the channels (nuclei only, nuclei + a
  cytoplasm marker, all four), at the image's own size and dtype; a lone single-channel file
  is a nucleus image.
Errors name the file (`ImageError`).
"""

from __future__ import annotations

import os
import re

import numpy as np

from gapnet.channels import ALL, ChannelSet
from gapnet.classes import CHANNELS
from gapnet.data.images import IMAGE_EXTENSIONS, ImageError, read_channel
from gapnet.data.labels import DataError
from gapnet.data.ome_zarr import ZarrImage, is_zarr, open_images
from gapnet.data.tiff import TIFF, read_tiff, tiff_planes

_PER_CHANNEL = re.compile(
    r"^(.+)_(" + "|".join(CHANNELS) + r")\.(" + "|".join(IMAGE_EXTENSIONS) + r")$", re.IGNORECASE
)


def read_plane(path: str, color: str | None = None) -> np.ndarray:
    """One image file (PNG, JPEG, TIFF) at its own size in its own dtype (8- or 16-bit kept,
    for segmentation): 2-D, or (H, W, 3|4) for a colour file when `color` is None, else the
    plane of `color` (the rules of `gapnet.data.images`)."""
    if path.lower().endswith(TIFF):
        arr = tiff_planes(path)[0]
        arr = arr[..., 0] if arr.shape[-1] == 1 else arr
    else:
        from gapnet.data.images import _open

        img = _open(path, None)
        try:
            if img.mode in ("P", "PA", "1", "CMYK", "YCbCr", "LAB", "HSV"):
                img = img.convert("RGBA" if img.mode in ("P", "PA") else "RGB")
            arr = np.asarray(img)
        finally:
            img.close()
    if arr.dtype.kind not in "iuf" or arr.ndim not in (2, 3):
        raise ImageError(path, f"unsupported pixels ({arr.dtype}, shape {arr.shape})")
    if arr.ndim == 3 and color is not None:
        arr = arr[..., 0] if arr.shape[-1] in (1, 2) else arr[..., :3]
        if arr.ndim == 3:
            plane = {"red": [0], "green": [1], "blue": [2], "yellow": [0, 1]}[color]
            arr = arr[..., plane].astype(np.float32).mean(-1).astype(arr.dtype)
    return arr


def _equal_planes(arr: np.ndarray) -> bool:
    """Whether all planes of a (H, W, C) image are the same (gray stored as colour)."""
    return bool((arr == arr[..., :1]).all())


def read_planes(source, channels=None) -> dict[str, np.ndarray]:
    """{colour: plane at its own size and dtype} of one entry of `find_images`.

    - A per-channel group: the colours it has.
    - A TIFF: its channels named by `channels` (one name per plane, file order) or by OME
      metadata. Without names, a single-plane file is a nucleus image, and so is a file
      whose planes are all equal (gray stored as colour); any other multi-plane file is
      refused: which plane holds the nuclei is unknown.
    - A lone PNG / JPEG: a gray file is a nucleus image (or the one colour `channels`
      names); a colour file is read by the same rule as a TIFF: its planes named by
      `channels` when it gives one name per plane, one plane when they are all equal,
      else refused.
    - Several names given (a TIFF's order, for a folder that mixes multi-channel TIFFs and
      lone nucleus images): a single-plane or gray file is still a nucleus image.
    """
    if isinstance(source, dict):
        return {c: read_plane(f, c) for c, f in source.items()}
    names = list(channels) if channels else None
    unknown = [n for n in names or [] if n not in CHANNELS]
    if unknown:
        raise ImageError(source, f"unknown channel names {unknown} (use {CHANNELS})")
    if source.lower().endswith(TIFF):
        arr, meta = tiff_planes(source)
        names = names or meta
    else:
        arr = read_plane(source)
        arr = arr[..., None] if arr.ndim == 2 else arr
        if arr.shape[-1] == 2:  # gray + alpha
            arr = arr[..., :1]
        elif arr.shape[-1] == 4 and not (names and len(names) == 4):
            arr = arr[..., :3]  # RGBA: the alpha plane is not a channel
    planes = arr.shape[-1]
    lone = not source.lower().endswith(TIFF)
    if lone and planes > 1 and _equal_planes(arr):  # a gray picture, whatever the names
        one = names[0] if names and len(names) == 1 else "blue"
        return {one: np.ascontiguousarray(arr[..., 0])}
    if names and len(names) == planes:
        return {n: np.ascontiguousarray(arr[..., i]) for i, n in enumerate(names)}
    if planes == 1 or _equal_planes(arr):
        one = names[0] if names and len(names) == 1 else "blue"
        return {one: np.ascontiguousarray(arr[..., 0])}
    if names:
        raise ImageError(source, f"{planes} channels in the file, {len(names)} names given")
    raise ImageError(
        source,
        f"{planes} channels and which is which is unknown: give the order "
        "(--channels blue,red,...) or OME channel names",
    )


_ANY_CHANNEL = re.compile(r"^(.+)_([^_.]+)\.(" + "|".join(IMAGE_EXTENSIONS) + r")$", re.IGNORECASE)


def find_images(path: str, lone: bool = False, names=CHANNELS) -> list[tuple[str, object]]:
    """(name, what to read) of every sample at `path`: a TIFF file, an OME-Zarr (its images:
    `gapnet.data.ome_zarr.open_images`), or a folder of TIFF files, `.zarr` images and/or
    per-channel files `<stem>_<name>` (with `lone`, also other PNG / JPEG files, each
    one sample). A stem with a file of one of `names` (a channel set's file names, the four
    colours by default) is a per-channel sample, and all its `<stem>_<x>` files are its
    channels. What to read is a file path (TIFF or lone file) or a {channel: path} dict
    (colours lower-cased; a channel set's own names as the files spell them)."""
    if os.path.isfile(path):
        return [(_stem(os.path.basename(path)), path)]
    if not os.path.isdir(path):
        raise ImageError(path, "no such file or folder")
    if is_zarr(path):  # an OME-Zarr image, plate or bioformats2raw series
        return [(im.name, im) for im in open_images(path)]
    known = {n.lower() for n in names}
    parsed = {f: _ANY_CHANNEL.match(f) for f in sorted(os.listdir(path))}
    stems = {m.group(1) for m in parsed.values() if m and m.group(2).lower() in known}
    found, groups = [], {}
    for f, m in parsed.items():
        full = os.path.join(path, f)
        if f.lower().endswith(".zarr") and not f.startswith(".") and is_zarr(full):
            found += [(im.name, im) for im in open_images(full)]
        elif m and m.group(1) in stems:
            ch = m.group(2)
            groups.setdefault(m.group(1), {})[ch.lower() if ch.lower() in CHANNELS else ch] = full
        elif f.lower().endswith(TIFF) or (
            lone and f.lower().endswith(tuple("." + e for e in IMAGE_EXTENSIONS))
        ):
            found.append((_stem(f), full))
    for stem, files in sorted(groups.items()):
        found.append((stem, files))
    if not found:
        raise ImageError(path, "no TIFF, OME-Zarr or <stem>_<color> image files")
    return found


def _stem(filename: str) -> str:
    """A file's sample name: its name without the extension (and `.ome` of `x.ome.tif`)."""
    stem = os.path.splitext(filename)[0]
    return stem[:-4] if stem.lower().endswith(".ome") else stem


def read_image(source, size: int | None, channels=None, channel_set=None, notes=None) -> np.ndarray:
    """Reads one entry of `find_images` as uint8 (size, size, C) in the order of
    `channel_set` (default: the four colours), or at its own size (H, W, C) when `size` is
    None; `notes` (a list) gets the names of the channels it has that the set does not use
    (dropped).

    Raises:
        ImageError: naming a file of the sample and each channel the set needs that it lacks.
    """
    cs = channel_set or ALL
    if isinstance(source, dict):
        have = {k.lower(): v for k, v in source.items()}
        missing = [(n, r) for n, r in zip(cs.names, cs.roles, strict=True) if n.lower() not in have]
        if missing:
            any_file = next(iter(source.values()))
            what = ", ".join(n if n == r else f"{n} ({r})" for n, r in missing)
            raise ImageError(any_file, f"no {what} file beside it")
        if notes is not None:
            wanted = {n.lower() for n in cs.names}
            notes += [k for k in source if k.lower() not in wanted]
        planes = [
            read_channel(have[n.lower()], r, size) for r, n in zip(cs.roles, cs.names, strict=True)
        ]
        if len({p.shape for p in planes}) > 1:  # size None: each file at its own size
            sizes = ", ".join(
                f"{n} {p.shape[1]}x{p.shape[0]}" for n, p in zip(cs.names, planes, strict=True)
            )
            raise ImageError(
                next(iter(source.values())), f"channel files of different sizes ({sizes})"
            )
        return np.stack(planes, -1)
    if isinstance(source, ZarrImage):
        from gapnet.data.ome_zarr_sample import read_zarr

        return read_zarr(source, size, channels, cs, notes)
    return read_tiff(source, size, channels, cs, notes)


def input_channels(model_set: ChannelSet, channel_map: dict | None) -> ChannelSet:
    """The files to read for a model trained on `model_set`: its own file names, or those a
    user's `channel_map` (file name -> role) gives its roles; map entries for roles the
    model lacks are left out (the caller notes them).

    Raises:
        DataError: the map gives no file channel for a role the model needs."""
    if not channel_map:
        return model_set
    by_role = {r: n for n, r in channel_map.items()}
    missing = [r for r in model_set.roles if r not in by_role]
    if missing:
        raise DataError(
            f"--channel-map {','.join(f'{n}={r}' for n, r in channel_map.items())} gives no "
            f"file channel for {', '.join(missing)}, which the model needs (it was trained on "
            f"{model_set.describe()})"
        )
    return ChannelSet(model_set.roles, tuple(by_role[r] for r in model_set.roles))
