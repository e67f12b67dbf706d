"""The physical pixel size (µm per pixel) of an image file, and resampling an image to
another pixel size, so that a model sees a user's cells at the scale it was trained at.

- `read_pixel_size(path)`: a `PixelSize` (µm/px along y and x, and where it came from) or
  None. In order: OME-TIFF `PhysicalSizeX/Y` with their units (`PhysicalSizeXUnit`; µm
  when absent, as OME's schema says); an ImageJ TIFF's resolution in its `unit`; plain
  TIFF `XResolution/YResolution` tags, only when `ResolutionUnit` is inch or centimetre
  (unit-less tags, `ResolutionUnit` 1, are ignored: they carry no length), and only up to
  `MAX_TAG_UM` µm/px (larger values are a screen or print resolution, 72 or 300 dpi, that
  image software writes by default, not a microscope's). PNG and JPEG files carry none
  (their pixel size comes from `--pixel-size`).
- Bad metadata (a unit outside `UNITS`, a size <= 0 or not a number) raises
  `PixelSizeError` naming the file: gapnet never guesses a scale.
- Anisotropic pixels (x != y): both are kept and `resample` scales each axis to the target
  (square pixels out), so a field is never stretched.
- `resample(image, from_um, to_um)`: scikit-image's `resize` with anti-aliasing when it
  shrinks, linear interpolation, uint8/uint16 kept; returns the image and the factor
  (from / to: > 1 enlarges). `tiles(image, size)` then cuts the resampled image into the
  model's square windows (one window, zero-padded, when it is smaller).

The HPA's pixel size: the HPA's own cell-segmentation maintainers give 0.08 µm per pixel
for HPA images (CellProfiling/HPA-Cell-Segmentation issue #27, 2023-01-13: "the pixels
represent the same distances as in the HPA (0.08μm per pixel)"), i.e. the full-size
2048-px fields of the HPA 2021 Kaggle set. The Kaggle 2018 512-px PNGs are those fields
shrunk 4x, so 0.32 µm/px for a 2048-px original (`HPA_2021_UM`, `HPA_2018_512_UM`); the
2021 set also holds 1728- and 3072-px fields, for which no pixel size is documented that we
could find (docs/data.md says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gapnet.data.images import ImageError

HPA_2021_UM = 0.08  # HPA-Cell-Segmentation#27 (see above): a 2048-px HPA field
HPA_2018_512_UM = 0.32  # the same fields shrunk 2048 -> 512 px for Kaggle 2018
MAX_TAG_UM = 5.0  # plain TIFF resolution tags above this are a print/screen dpi (600 dpi: 42 µm)
MAX_FACTOR = 16.0  # a resampling that enlarges more than this is a wrong pixel size, refused
MAX_OUT_PIXELS = 4096 * 4096  # the most pixels an image resampled in memory may have
ISOTROPIC = 0.01  # x and y within 1 % count as one pixel size

# Length units -> µm: OME's symbols and NGFF's (UDUNITS) names.
UNITS = {
    "pm": 1e-6,
    "picometer": 1e-6,
    "å": 1e-4,
    "Å": 1e-4,
    "angstrom": 1e-4,
    "nm": 1e-3,
    "nanometer": 1e-3,
    "µm": 1.0,  # micro sign
    "μm": 1.0,  # Greek mu
    "um": 1.0,
    "micron": 1.0,
    "micrometer": 1.0,
    "mm": 1e3,
    "millimeter": 1e3,
    "cm": 1e4,
    "centimeter": 1e4,
    "m": 1e6,
    "meter": 1e6,
}


class PixelSizeError(ImageError):
    """A file's (or an argument's) pixel size that gapnet cannot use, named."""


@dataclass(frozen=True)
class PixelSize:
    y: float  # µm per pixel down the rows
    x: float  # µm per pixel along a row
    source: str  # where it came from: "OME", "ImageJ", "TIFF tags", "--pixel-size"

    @property
    def isotropic(self) -> bool:
        return abs(self.x - self.y) <= ISOTROPIC * max(self.x, self.y)

    def __str__(self) -> str:
        return f"{self.x:.4g}" if self.isotropic else f"{self.x:.4g} x {self.y:.4g} (x, y)"


def to_um(value, unit, where: str) -> float:
    """`value` in `unit` (a key of `UNITS`; None: µm) as µm, checked > 0 and finite.

    Raises:
        PixelSizeError: naming `where` (a file, or an argument)."""
    unit = "µm" if unit is None or str(unit).strip() == "" else str(unit).strip()
    scale = UNITS.get(unit, UNITS.get(unit.lower()))
    if scale is None:
        raise PixelSizeError(
            where, f"pixel size in unknown unit {unit!r} (known: nm, µm, mm, cm, m, Å)"
        )
    try:
        um = float(value) * scale
    except (TypeError, ValueError):
        raise PixelSizeError(where, f"pixel size {value!r} {unit} is not a number") from None
    if not (um > 0 and math.isfinite(um)):
        raise PixelSizeError(where, f"pixel size {value} {unit}: must be > 0 and finite")
    return um


def parse_pixel_size(text: str, where: str = "--pixel-size") -> float:
    """µm per pixel from a command-line value: a number (µm) or a number with a unit
    ("0.08", "80nm", "0.08 µm").

    Raises:
        PixelSizeError: not a number, a unit outside `UNITS`, or <= 0."""
    s = str(text).strip()
    num = s.rstrip("abcdefghijklmnopqrstuvwxyzµμÅå ").strip()
    return to_um(num, s[len(num) :].strip() or None, where)


def _ome(tif, path: str) -> PixelSize | None:
    import tifffile

    xml = tif.ome_metadata
    if not xml:
        return None
    image = tifffile.xml2dict(xml).get("OME", {}).get("Image", {})
    pixels = (image[0] if isinstance(image, list) else image).get("Pixels", {})
    if "PhysicalSizeX" not in pixels and "PhysicalSizeY" not in pixels:
        return None
    x = pixels.get("PhysicalSizeX", pixels.get("PhysicalSizeY"))
    y = pixels.get("PhysicalSizeY", x)
    ux = pixels.get("PhysicalSizeXUnit")
    uy = pixels.get("PhysicalSizeYUnit", ux)
    return PixelSize(to_um(y, uy, path), to_um(x, ux, path), "OME")


def _tags(tif, path: str) -> PixelSize | None:
    page = tif.pages[0]
    tags = page.tags
    if "XResolution" not in tags:
        return None
    xres = tags["XResolution"].value
    yres = tags["YResolution"].value if "YResolution" in tags else xres
    unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2  # TIFF default

    def per_px(res, length_um):  # (numerator, denominator) pixels per unit length
        n, d = res if isinstance(res, tuple) else (res, 1)
        return to_um(length_um * d / n, "µm", path) if n else None

    ij = tif.imagej_metadata or {}
    if ij.get("unit"):  # ImageJ: pixels per `unit` in the resolution tags
        unit_name = str(ij["unit"]).replace("\\u00B5", "µ")
        try:
            scale = to_um(1, unit_name, path)
        except PixelSizeError:
            return None  # ImageJ's "pixel" / "inch" etc.: no microscope length
        x, y = per_px(xres, scale), per_px(yres, scale)
        return PixelSize(y, x, "ImageJ") if x and y else None
    if unit not in (2, 3):  # 1 = no unit: a ratio only
        return None
    length = 25400.0 if unit == 2 else 10000.0
    x, y = per_px(xres, length), per_px(yres, length)
    if not (x and y) or max(x, y) > MAX_TAG_UM:
        return None
    return PixelSize(y, x, "TIFF tags")


def read_pixel_size(path: str) -> PixelSize | None:
    """The µm/px a file's metadata declares, or None (PNG, JPEG, a TIFF without it).

    Raises:
        PixelSizeError: a declared size in an unknown unit, <= 0 or not a number (the file
            named)."""
    if not path.lower().endswith((".tif", ".tiff")):
        return None
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return _ome(tif, path) or _tags(tif, path)
    except PixelSizeError:
        raise
    except FileNotFoundError:
        raise ImageError(path, "missing file") from None
    except Exception as e:  # tifffile raises many types for corrupt files
        raise ImageError(path, f"not a readable TIFF ({e})") from None


def resampled_shape(hw, from_um, to_um: float, where: str = "image") -> tuple[int, int]:
    """(H, W) of an image of `hw` px at `from_um` µm/px (a number, or (y, x)) resampled to
    `to_um`; callers check it from a file's header before reading its pixels.

    Raises:
        PixelSizeError: naming `where`, past MAX_FACTOR enlargement or MAX_OUT_PIXELS."""
    fy, fx = (from_um, from_um) if np.isscalar(from_um) else from_um
    sy, sx = fy / to_um, fx / to_um
    h, w = hw
    shape = (max(1, round(h * sy)), max(1, round(w * sx)))
    if max(sy, sx) > MAX_FACTOR or shape[0] * shape[1] > MAX_OUT_PIXELS:
        raise PixelSizeError(
            where,
            f"resampling {w}x{h} px from {fx:.4g} to {to_um:.4g} µm/px would give "
            f"{shape[1]}x{shape[0]} px (x{sx:.3g}): check its pixel size (limits: x"
            f"{MAX_FACTOR:g}, {MAX_OUT_PIXELS} px; a larger field: save it as OME-Zarr)",
        )
    return shape


def resample(
    image: np.ndarray, from_um, to_um: float, where: str = "image"
) -> tuple[np.ndarray, float]:
    """`image` (H, W) or (H, W, C) at `from_um` µm/px (a number, or (y, x)) resampled to
    `to_um` µm/px: (image in its own dtype, the factor from / to along x; > 1 enlarges).
    Shrinking low-pass filters first (scikit-image's anti-aliasing).

    Raises:
        PixelSizeError: naming `where`, when the result would be enlarged more than
            MAX_FACTOR times or hold more than MAX_OUT_PIXELS pixels (a wrong pixel size, a
            print resolution, or a field for OME-Zarr's window-by-window path)."""
    from skimage.transform import resize

    fy, fx = (from_um, from_um) if np.isscalar(from_um) else from_um
    sy, sx = fy / to_um, fx / to_um
    shape = resampled_shape(image.shape[:2], from_um, to_um, where) + image.shape[2:]
    if shape == image.shape:
        return image, sx
    out = resize(
        image, shape, order=1, preserve_range=True, anti_aliasing=min(sy, sx) < 1, mode="reflect"
    )
    if image.dtype.kind in "ui":
        info = np.iinfo(image.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(image.dtype), sx


def resample_note(name: str, before, after, from_um, to_um: float) -> str:
    """ "note: NAME: resampled 2048→1024 px: 0.08 → 0.16 µm/px" (sides as H or HxW)."""

    def side(shape):
        return f"{shape[0]}" if shape[0] == shape[1] else f"{shape[1]}x{shape[0]}"

    return f"note: {name}: resampled {side(before)}→{side(after)} px: {from_um} → {to_um:.4g} µm/px"


def tiles(image: np.ndarray, size: int) -> np.ndarray:
    """(n, size, size, C) windows covering `image` (H, W, C): one when it fits (zero-padded
    at the bottom and right when smaller), else a grid of ceil(H/size) x ceil(W/size)
    evenly spaced, overlapping windows whose union is the whole image."""
    h, w = image.shape[:2]
    if h < size or w < size:
        pad = [(0, max(0, size - h)), (0, max(0, size - w))] + [(0, 0)] * (image.ndim - 2)
        image = np.pad(image, pad)
        h, w = image.shape[:2]
    ys, xs = window_starts(h, size), window_starts(w, size)
    return np.stack([image[y : y + size, x : x + size] for y in ys for x in xs])


def window_starts(n: int, size: int) -> list[int]:
    """Where `tiles`' windows of `size` start along a side of `n` px: [0] when the side is
    no longer, else ceil(n / size) evenly spaced starts from 0 to n - size."""
    if n <= size:
        return [0]
    return [int(v) for v in np.linspace(0, n - size, math.ceil(n / size)).round()]
