"""Decoding one HPA channel file, or the four files of a sample, to uint8 arrays.

Rules (documented in docs/data.md, tested in tests/test_images.py):

- Every array is uint8. A 16-bit file is scaled by its dtype range (v * 255 / 65535,
  rounded), never clipped: Keras' loaders saturate 16-bit images (keras#13023). A
  32-bit integer or float file is scaled by its own maximum.
- A multi-plane file whose colour planes are equal (a grey picture stored as RGB or RGBA,
  as the BBBC013 crops are) is that one grey plane, whatever its role.
- Another multi-plane file (RGB, RGBA, as the HPAv18 JPGs and some re-saved PNGs are) gives
  the plane of its colour: red -> R, green -> G, blue -> B, yellow -> mean(R, G) (the
  HPA renders yellow as red + green). An alpha plane is ignored.
- Any size is resized to `size` x `size` (area interpolation when shrinking, bilinear
  when enlarging). JPEGs much larger than `size` are decoded at reduced scale by libjpeg
  (DCT scaling) first, which is 4x faster for the 2048-px HPAv18 files.
- Anything unreadable raises `ImageError` naming the file: missing, empty, truncated,
  not an image, or an unsupported pixel format.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image

from gapnet.classes import CHANNELS

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "tif", "tiff")
_PLANE = {"red": 0, "green": 1, "blue": 2}

# Corrupt files must fail, not decode to gray; large scans are legitimate.
Image.LOAD_TRUNCATED_IMAGES = False
Image.MAX_IMAGE_PIXELS = 16384 * 16384


class ImageError(ValueError):
    """An image file that cannot be used. The message names the file."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self):  # pickled back from a worker process with the file still named
        return (type(self), (self.path, self.reason))


def channel_path(image_dir: str, sample_id: str, color: str, ext="png") -> str:
    """`image_dir/<Id>_<color>.<ext>`. `ext` is one extension for every sample, or, for a
    folder mixing file types, a mapping Id -> extension (`HPASource.ext`)."""
    if not isinstance(ext, str):
        ext = ext.get(sample_id, "png")
    return os.path.join(image_dir, f"{sample_id}_{color}.{ext}")


def describe_ext(ext) -> str:
    """`ext` (one extension or a mapping Id -> extension) for messages: "PNG", "JPG+PNG"."""
    exts = {ext} if isinstance(ext, str) else set(ext.values())
    return "+".join(sorted(e.upper() for e in exts))


MAX_PIXELS = 4096 * 4096  # HPA fields are at most 3072 px square; larger is not an HPA image


def _open(path: str, size: int | None) -> Image.Image:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageError(path, "missing file") from None
    except OSError as e:
        raise ImageError(path, f"cannot read ({e.strerror})") from None
    if st.st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's DecompressionBombWarning etc.
            img = Image.open(path)
            if img.size[0] * img.size[1] > MAX_PIXELS:  # check the header before inflating
                raise ImageError(
                    path,
                    f"{img.size[0]}x{img.size[1]} pixels: larger than any "
                    f"HPA image (limit {MAX_PIXELS} pixels)",
                )
            if size and img.format == "JPEG" and min(img.size) >= 2 * size:
                img.draft(img.mode, (size, size))
            img.load()
        return img
    except Image.DecompressionBombError as e:
        raise ImageError(path, f"refused: {e}") from None
    except Image.UnidentifiedImageError:
        raise ImageError(path, "not an image file (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(path, f"corrupt or truncated image ({e})") from None


def _to_array(img: Image.Image, path: str) -> np.ndarray:
    if img.mode in ("P", "PA", "1", "CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGBA" if img.mode in ("P", "PA") else "RGB")
    arr = np.asarray(img)
    if arr.dtype.kind not in "iuf":
        raise ImageError(path, f"unsupported pixel format (mode {img.mode}, dtype {arr.dtype})")
    return to_uint8(arr, path)


def require_finite(arr: np.ndarray, path: str) -> np.ndarray:
    """`arr` itself; raises ImageError (naming `path`) when a float array holds NaN or inf."""
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ImageError(path, "image holds NaN or infinite values")
    return arr


def to_uint8(arr: np.ndarray, path: str) -> np.ndarray:
    """An integer or float pixel array as uint8 by the rules above (16-bit by the dtype
    range, other types by their own maximum); `path` names the file in errors."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 2:
        # 16-bit (either byte order): map the dtype range 0..65535 onto 0..255 (no saturation).
        return np.round(arr.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)
    if arr.dtype.kind not in "iuf":
        raise ImageError(path, f"unsupported pixel type {arr.dtype}")
    a = require_finite(arr.astype(np.float64), path)
    a = np.clip(a, 0, None)
    peak = a.max()
    return np.zeros(a.shape, np.uint8) if peak == 0 else np.round(a * 255.0 / peak).astype(np.uint8)


def _plane(arr: np.ndarray, color: str, path: str) -> np.ndarray:
    if arr.ndim == 2:
        return arr
    if arr.ndim != 3:
        raise ImageError(path, f"unexpected array shape {arr.shape}")
    n = arr.shape[2]
    if n in (1, 2):  # gray or gray + alpha
        return arr[..., 0]
    if n in (3, 4):
        if color == "yellow":
            return ((arr[..., 0].astype(np.uint16) + arr[..., 1] + 1) // 2).astype(np.uint8)
        return np.ascontiguousarray(arr[..., _PLANE[color]])
    raise ImageError(path, f"unsupported number of planes ({n})")


def _resize(arr: np.ndarray, size: int) -> np.ndarray:
    import cv2  # OpenCV's resize is several times faster than PIL's for this

    h, w = arr.shape
    if (h, w) == (size, size):
        return arr
    interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
    return cv2.resize(arr, (size, size), interpolation=interp)


def read_channel(
    path: str, color: str, size: int | None = None, notes: list | None = None
) -> np.ndarray:
    """Reads one channel file as a uint8 (size, size) array (original size if None).

    Args:
        path: the image file.
        color: which of `CHANNELS` this file holds (picks the plane of a colour file).
        size: output side length in pixels.
        notes: if given, a note is appended for unusual but valid input (16-bit, a colour
            file, another size), for the validator's report.

    Raises:
        ImageError: the file is missing, empty, corrupt or of an unsupported format.
    """
    if color not in CHANNELS:
        raise ValueError(f"unknown channel {color!r}; expected one of {CHANNELS}")
    img = _open(path, size)
    try:
        if notes is not None:
            if img.mode not in ("L", "RGB"):
                notes.append(f"mode {img.mode}: scaled to 8 bits")
            if img.mode not in ("L", "I;16", "I;16B", "I", "F"):
                notes.append(f"{img.mode} file: the {color} plane is used")
            if size and img.size != (size, size):
                notes.append(f"size {img.size[0]}x{img.size[1]}: resized to {size}x{size}")
        arr = _plane(_to_array(img, path), color, path)
    finally:
        img.close()
    return arr if size is None else _resize(arr, size)


def read_sample(image_dir: str, sample_id: str, size: int, ext="png", channels=None) -> np.ndarray:
    """Reads the channel files of a sample as uint8 (size, size, C) in the roles' order of
    `channels` (a `gapnet.channels.ChannelSet`; default the four, `<Id>_<color>` files;
    `ext`: as in `channel_path`)."""
    roles = channels.roles if channels is not None else CHANNELS
    names = channels.names if channels is not None else CHANNELS
    out = np.empty((size, size, len(roles)), np.uint8)
    for c, (role, name) in enumerate(zip(roles, names, strict=True)):
        out[..., c] = read_channel(channel_path(image_dir, sample_id, name, ext), role, size)
    return out
