"""A nucleus image's background and its nuclei's typical diameter, found from the image.

- `background`: the slowly varying level under the nuclei, a grey opening (a disk wider than
  a nucleus) smoothed, computed on a reduced copy of the image and enlarged back.
- `foreground_level`: the level that separates nuclei from the background-subtracted image:
  Otsu's threshold on its logarithm (dim and bright nuclei both above it when brightness
  spans orders of magnitude), never below three noise deviations.
- `estimate_diameter`: the area-weighted median equivalent diameter of the objects above that
  level (a nucleus counts by its area, so specks barely move it; touching nuclei that stay
  merged make it larger), in pixels at the image's size.
"""

from __future__ import annotations

import numpy as np

WORK_SIDE = 1024  # the size is estimated on a copy whose longer side is at most this


def _shrink(img: np.ndarray, factor: float) -> np.ndarray:
    import cv2

    if factor >= 1:
        return img
    return cv2.resize(img, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def background(img: np.ndarray, width: float) -> np.ndarray:
    """The background of a float image: grey opening with a disk `width` px across (wider
    than any nucleus), smoothed, at a reduced scale (the disk about 15 px there)."""
    import cv2
    from scipy import ndimage as ndi
    from skimage.morphology import disk

    f = min(1.0, 15.0 / max(width, 1.0))
    small = _shrink(img.astype(np.float32), f)
    radius = max(int(round(width * f / 2)), 1)
    opened = ndi.grey_opening(small, footprint=disk(radius))
    opened = ndi.gaussian_filter(opened, radius)
    h, w = img.shape
    return cv2.resize(opened, (w, h), interpolation=cv2.INTER_LINEAR) if f < 1 else opened


def noise_level(x: np.ndarray) -> float:
    """Robust deviation of the background pixels (those below the median) of an image whose
    background is about 0."""
    below = x[x <= np.median(x)]
    return float(1.4826 * np.median(np.abs(below - np.median(below)))) if below.size else 0.0


def foreground_level(x: np.ndarray) -> float:
    """Threshold between nuclei and background in a background-subtracted, smoothed image."""
    from skimage.filters import threshold_otsu

    noise = max(noise_level(x), 1e-3 * max(float(x.max()), 1e-6))
    y = np.log1p(np.clip(x, 0, None) / noise)
    level = noise * np.expm1(threshold_otsu(y)) if y.max() > y.min() else np.inf
    return max(level, 3 * noise)


def prepared(img: np.ndarray, width: float, sigma: float) -> np.ndarray:
    """Float image with its background removed, smoothed with a Gaussian of `sigma` px."""
    from scipy import ndimage as ndi

    x = img.astype(np.float32)
    x = ndi.gaussian_filter(x, sigma) if sigma > 0 else x
    return x - background(x, width)


def estimate_diameter(img: np.ndarray) -> float:
    """Typical nucleus diameter in pixels of a nucleus image (2-D, any dtype) at its size.

    On a copy reduced to at most WORK_SIDE px; background: an opening an eighth of the
    shorter side wide; smoothing 1 px there. Returns 0.0 when nothing stands out."""
    from scipy import ndimage as ndi

    f = min(1.0, WORK_SIDE / max(img.shape))
    small = _shrink(img.astype(np.float32), f)
    x = prepared(small, min(small.shape) / 8, 1.0)
    if x.max() <= 0:
        return 0.0
    mask = ndi.binary_fill_holes(x > foreground_level(x))
    return typical_diameter(ndi.label(mask)[0], least_area=9) / f


def typical_diameter(labels: np.ndarray, least_area: int = 1) -> float:
    """Area-weighted median equivalent-circle diameter of the labelled objects of at least
    `least_area` px (0.0 when none): half the objects' area lies in objects smaller."""
    areas = np.bincount(labels.ravel())[1:]
    areas = areas[areas >= max(least_area, 1)]  # specks: noise at any magnification
    if not areas.size:
        return 0.0
    diam = np.sort(2 * np.sqrt(areas / np.pi))
    weight = np.cumsum(diam**2)
    return float(diam[np.searchsorted(weight, weight[-1] / 2)])
