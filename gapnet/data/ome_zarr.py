"""OME-Zarr (NGFF) images, read lazily through the `ome-zarr` library (`pip install
'gapnet[zarr]'`): what napari reads and bioformats2raw writes.

- An image is a group with `multiscales` metadata (NGFF 0.4 on Zarr v2, 0.5 on Zarr v3):
  its levels (level 0 the full resolution), their axes and their `coordinateTransformations`
  give each level's size and its micrometres per pixel (`Level.um_per_px`, from the scale
  and the axes' units; None when the axes name no length unit). Channel names are the
  `omero.channels[].label` metadata; they are matched to a model's channel set (its file
  names, or `--channel-map`) as a TIFF's OME channel names are (`gapnet.data.microscope`).
- Axes: any of t, c, z, y, x with y and x; a t or z axis longer than 1 is refused (a time
  series or a z-stack is not one field). No c axis: one channel.
- Levels: `level_for_um(target_um)` picks the level whose pixel size is nearest
  `target_um` (by ratio, |log(um / target)|; level 0 when `target_um` is None);
  `level_for_size(size)` the coarsest level whose sides are both at least `size` px (the
  one a model reading `size` px downsamples from).
- Reading is lazy: `region` reads only the chunks a window touches (dask over zarr), and
  `tiles(level, tile, overlap)` walks a level in `tile` x `tile` windows whose neighbours
  share `overlap` px (the last row and column of tiles are flush with the image's edge, so
  every tile is full size when the image is larger than a tile). Each tile also carries its
  *core*: the tiles' cores partition the image, each boundary halfway across an overlap,
  so a per-object result can be kept by the one tile whose core holds the object's centre
  (an object up to `overlap` px across is then seen whole by that tile;
  `gapnet.data.tile_grid`).
- Layouts: one image (`<name>.zarr`), a bioformats2raw folder (series `0/`, `1/`, ...:
  images `<name>/0`, ...) or a plate (HCS: plate -> wells -> fields: images named
  `<plate>/<row>/<col>/<field>`). `open_images(path)` lists them.

Errors are `ImageError`s naming the path: no multiscales metadata, an axis layout gapnet
cannot use, names that do not match the channels, ome-zarr not installed (the extra named).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from gapnet.data.images import ImageError
from gapnet.data.tile_grid import Tile, spans

EXTRA = "reading OME-Zarr needs the zarr extra: pip install 'gapnet[zarr]' (ome-zarr, zarr)"


def _um_per_unit(unit, path: str) -> float | None:
    """µm in one `unit` of an axis (NGFF's UDUNITS-2 names, or nm/µm/...); None: no unit.

    Raises:
        ImageError: a unit gapnet does not know, naming the file."""
    from gapnet.data.pixel_size import UNITS

    if not unit:
        return None
    scale = UNITS.get(str(unit), UNITS.get(str(unit).lower()))
    if scale is None:
        raise ImageError(path, f"axis unit {unit!r} is not a length gapnet knows (nm, µm, ...)")
    return scale


def is_zarr(path: str) -> bool:
    """Whether `path` is a Zarr group folder (v2 `.zgroup` or v3 `zarr.json`)."""
    return os.path.isdir(path) and any(
        os.path.isfile(os.path.join(path, f)) for f in ("zarr.json", ".zgroup", ".zattrs")
    )


def _location(path: str):
    try:
        from ome_zarr.io import parse_url
    except ImportError:
        raise ImageError(path, EXTRA) from None
    import logging

    # ome-zarr logs "version mismatch" for every NGFF 0.4 image it opens as 0.5 first: noise
    logging.getLogger("ome_zarr").setLevel(logging.ERROR)
    try:
        loc = parse_url(path)
    except Exception as e:  # noqa: BLE001 - zarr raises many types for a broken store
        raise ImageError(path, f"not a readable OME-Zarr ({e})") from None
    if loc is None:
        raise ImageError(path, "not a readable OME-Zarr (no Zarr group there)")
    return loc


@dataclass(frozen=True)
class Level:
    """One resolution level: its dataset path, (height, width) and micrometres per pixel
    along (y, x), None when the axes name no length unit."""

    path: str
    shape: tuple[int, int]
    um_per_px: tuple[float, float] | None


class ZarrImage:
    """One NGFF image (see the module's rules); `name` is how outputs name it."""

    def __init__(self, path: str, name: str | None = None, loc=None):
        self.path = path
        self.name = name or os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
        loc = loc or _location(path)
        attrs = loc.root_attrs
        if "multiscales" not in attrs or not attrs["multiscales"]:
            raise ImageError(path, "no multiscales metadata: not an OME-Zarr image (NGFF)")
        ms = attrs["multiscales"][0]
        try:
            self.axes = "".join(_axis_name(a) for a in ms["axes"])
            datasets = ms["datasets"]
            self._arrays = [_array(loc, str(d["path"])) for d in datasets]
        except Exception as e:  # noqa: BLE001 - missing keys or arrays of a broken file
            raise ImageError(path, f"unreadable multiscales metadata ({e!r})") from None
        self._check_axes(ms["axes"])
        units = {_axis_name(a): a.get("unit") for a in ms["axes"] if isinstance(a, dict)}
        factor = [_um_per_unit(units.get(k), path) for k in "yx"]
        top = _scale(ms.get("coordinateTransformations"), len(self.axes))
        self.levels, self._scales = [], []  # _scales: (y, x) in the axes' own units
        for d, arr in zip(datasets, self._arrays, strict=True):
            s = _scale(d.get("coordinateTransformations"), len(self.axes))
            um = [s[self.axes.index(k)] * top[self.axes.index(k)] for k in "yx"]
            self._scales.append(tuple(um))
            known = all(f is not None for f in factor)
            self.levels.append(
                Level(
                    str(d["path"]),
                    (arr.shape[self.axes.index("y")], arr.shape[self.axes.index("x")]),
                    (um[0] * factor[0], um[1] * factor[1]) if known else None,
                )
            )
        n = arr.shape[self.axes.index("c")] if "c" in self.axes else 1
        labels = [c.get("label") for c in (attrs.get("omero") or {}).get("channels", [])]
        self.channels = [str(x) for x in labels] if labels and all(labels) else None
        if self.channels and len(self.channels) != n:
            raise ImageError(
                path, f"{n} channels in the array, {len(self.channels)} omero channel labels"
            )
        self.n_channels = n
        self.dtype = np.dtype(self._arrays[0].dtype)

    def with_pixel_size(self, um: float) -> ZarrImage:
        """This image with level 0 at `um` µm/px (`--pixel-size`, for axes without a unit),
        the other levels at their scale transforms' ratios to level 0."""
        import copy

        out = copy.copy(self)
        y0, x0 = self._scales[0]
        out.levels = [
            Level(lv.path, lv.shape, (um * sy / y0, um * sx / x0))
            for lv, (sy, sx) in zip(self.levels, self._scales, strict=True)
        ]
        return out

    def _check_axes(self, axes) -> None:
        if set(self.axes) - set("tczyx") or "y" not in self.axes or "x" not in self.axes:
            raise ImageError(self.path, f"axes {self.axes!r}: gapnet reads t, c, z, y, x with y, x")
        if len(set(self.axes)) != len(self.axes) or self._arrays[0].ndim != len(self.axes):
            raise ImageError(self.path, f"axes {self.axes!r} do not fit the array's shape")
        for a in "tz":
            if a in self.axes and self._arrays[0].shape[self.axes.index(a)] > 1:
                n = self._arrays[0].shape[self.axes.index(a)]
                raise ImageError(
                    self.path, f"{n} planes along {a}: gapnet reads one 2-D field (t, z of 1)"
                )

    def level_for_um(self, target_um: float | None) -> int:
        """The coarsest level at least as fine as `target_um` µm/px (within 1 %), so a level is
        only ever shrunk to the target, never enlarged; the finest level when all are coarser,
        level 0 when `target_um` is None.

        Raises:
            ImageError: the levels have no physical pixel size (axes without a unit)."""
        if target_um is None:
            return 0
        if self.levels[0].um_per_px is None:
            raise ImageError(self.path, "no physical pixel size (the y, x axes have no unit)")
        finer = [i for i, lv in enumerate(self.levels) if lv.um_per_px[1] <= target_um * 1.01]
        if not finer:  # every level coarser than asked: the finest
            return 0
        return max(finer, key=lambda i: self.levels[i].um_per_px[1])

    def level_for_size(self, size: int) -> int:
        """The coarsest level whose sides are both at least `size` px (level 0 if none is)."""
        ok = [i for i, lv in enumerate(self.levels) if min(lv.shape) >= size]
        return min(ok, key=lambda i: self.levels[i].shape[0] * self.levels[i].shape[1]) if ok else 0

    def plane_index(self, names) -> list[int]:
        """The channel index of each of `names` (case-insensitive).

        Raises:
            ImageError: the image has no channel labels, or lacks one of `names`."""
        if self.channels is None:
            if self.n_channels == 1 and len(names) == 1:
                return [0]
            raise ImageError(self.path, f"no omero channel labels: which is {list(names)} unknown")
        lower = [c.lower() for c in self.channels]
        missing = [n for n in names if n.lower() not in lower]
        if missing:
            raise ImageError(
                self.path,
                f"no {', '.join(missing)} channel among {self.channels} (needed: {list(names)})",
            )
        return [lower.index(n.lower()) for n in names]

    def lazy(self, level: int = 0, channels: list[int] | None = None):
        """The level as a lazy dask array (height, width, C) in the file's dtype."""
        import dask.array as da

        return self._yxc(da.from_zarr(self._arrays[level]), channels)

    def _yxc(self, arr, channels=None):
        """`arr` (the level's axes, t and z of 1) as (y, x, c), c picked by `channels`."""
        kept = [a for a in self.axes if a in "cyx"]
        arr = arr.reshape([n for a, n in zip(self.axes, arr.shape, strict=True) if a in "cyx"])
        if "c" not in kept:
            arr, kept = arr[None], ["c"] + kept
        arr = arr.transpose([kept.index(a) for a in "yxc"])
        return arr if channels is None else arr[:, :, list(channels)]

    def region(self, level, y0, y1, x0, x1, channels=None) -> np.ndarray:
        """Pixels [y0:y1, x0:x1] of a level as (h, w, C) NumPy, reading only their chunks
        (and only the channels asked for)."""
        arr = self._arrays[level]
        window = {"y": slice(y0, y1), "x": slice(x0, x1), "c": slice(None)}
        index = [window.get(a, slice(0, 1)) for a in self.axes]
        try:
            if channels is not None and "c" in self.axes:
                c = self.axes.index("c")
                planes = []
                for k in channels:
                    index[c] = slice(k, k + 1)
                    planes.append(np.asarray(arr[tuple(index)]))
                return self._yxc(np.concatenate(planes, c))
            return self._yxc(np.asarray(arr[tuple(index)]))
        except Exception as e:  # noqa: BLE001 - a missing or corrupt chunk
            raise ImageError(self.path, f"cannot read level {level} ({e!r})") from None

    def tiles(self, level: int, tile: int, overlap: int):
        """`Tile`s covering a level (the module's rules on overlap and cores)."""
        h, w = self.levels[level].shape
        for y0, y1, cy0, cy1 in spans(h, tile, overlap):
            for x0, x1, cx0, cx1 in spans(w, tile, overlap):
                yield Tile(y0, y1, x0, x1, (cy0, cy1, cx0, cx1))


def _array(loc, path: str):
    """The Zarr array at `path` inside the image `loc` (an ome-zarr location), read-only."""
    import zarr

    return zarr.open_array(loc.store, path=path, mode="r")


def _axis_name(a) -> str:
    return (a if isinstance(a, str) else a["name"]).lower()


def _scale(transforms, n: int) -> list[float]:
    for t in transforms or []:
        if t.get("type") == "scale" and "scale" in t:
            return [float(v) for v in t["scale"]]
    return [1.0] * n


def open_images(path: str) -> list[ZarrImage]:
    """The images of an OME-Zarr at `path`: itself, a bioformats2raw series, or the fields
    of a plate's wells (named `<plate>/<row>/<col>/<field>`).

    Raises:
        ImageError: naming `path` (no multiscales, plate or series metadata, ...)."""
    loc = _location(path)
    attrs = loc.root_attrs
    stem = os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
    if "plate" in attrs:
        out = []
        for well in attrs["plate"].get("wells", []):
            wpath = os.path.join(path, well["path"])
            fields = _location(wpath).root_attrs.get("well", {}).get("images", [])
            for f in fields:
                name = f"{stem}/{well['path']}/{f['path']}"
                out.append(ZarrImage(os.path.join(wpath, str(f["path"])), name))
        if not out:
            raise ImageError(path, "a plate with no wells or fields")
        return out
    if "bioformats2raw.layout" in attrs and "multiscales" not in attrs:
        out, i = [], 0
        while os.path.isdir(os.path.join(path, str(i))):
            out.append(ZarrImage(os.path.join(path, str(i)), f"{stem}/{i}"))
            i += 1
        if not out:
            raise ImageError(path, "a bioformats2raw layout with no series (0/, 1/, ...)")
        return out
    return [ZarrImage(path, stem, loc)]
