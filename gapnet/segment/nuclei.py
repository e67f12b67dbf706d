"""Nuclei of a nucleus image (the blue channel, a DNA stain) from any microscope.

1. Background removed (`nucleus_size.background`: an opening two diameters wide) and the
   image smoothed (sigma `smooth` x the diameter, at least 0.5 px).
2. Foreground: above the global level (`nucleus_size.foreground_level`: Otsu on the log of
   the image, at least three noise deviations) and above `local_fraction` of the brightest
   pixel within one diameter, so that a dim nucleus beside a bright one keeps its own edge
   and the blur halo of a bright nucleus is not taken. A 1-px opening (for nuclei of 20 px
   or more); holes filled; objects under a ninth of a nucleus' area dropped (a 36th at the
   image's edge, where nuclei are cut).
3. Touching nuclei split by a watershed on the distance transform (capped at half a
   diameter) times the smoothed intensity relative to its local maximum, from peaks at
   least `peak_distance` x the diameter apart: a dark seam splits nuclei as a waist does.

The diameter is estimated from the image (`nucleus_size.estimate_diameter`, then refined to
the area-weighted median diameter of the nuclei found with it) when not given.
"""

from __future__ import annotations

import numpy as np

from gapnet.segment.nucleus_size import (
    estimate_diameter,
    foreground_level,
    prepared,
    typical_diameter,
)


def _as_plane(image: np.ndarray) -> np.ndarray:
    """A 2-D nucleus plane: an RGB(A) image gives its brightest colour plane per pixel."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        image = image[..., :3].max(-1)
    if image.ndim != 2:
        raise ValueError(f"a nucleus image must be 2-D (or RGB), got shape {image.shape}")
    return image


def _nuclei_at(img: np.ndarray, diameter: float, p) -> np.ndarray:
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.segmentation import relabel_sequential, watershed

    x = prepared(img, 2 * diameter, max(p.smooth * diameter, 0.5))
    if x.max() <= 0:
        return np.zeros(img.shape, np.int32)
    level = foreground_level(x) * p.nucleus_threshold / 0.5
    local = ndi.maximum_filter(x, size=max(int(diameter), 3))
    mask = (x > level) & (x > p.local_fraction * local)
    if diameter >= 20:  # a 1-px opening takes off noise spurs; small nuclei keep their rim
        mask = ndi.binary_opening(mask, iterations=1)
    mask = ndi.binary_fill_holes(mask)
    comp, _ = ndi.label(mask)
    sizes = np.bincount(comp.ravel())
    edge = np.unique(np.concatenate([comp[0], comp[-1], comp[:, 0], comp[:, -1]]))
    least = np.full(len(sizes), np.pi * (diameter / 6) ** 2)
    least[edge] = np.pi * (diameter / 12) ** 2
    small = sizes < least
    small[0] = True
    mask = ~small[comp]
    comp[~mask] = 0
    dist = ndi.distance_transform_edt(mask)
    relief = np.minimum(dist / (diameter / 2), 1.0) * np.clip(x / np.maximum(local, 1e-6), 0, 1)
    peaks = peak_local_max(
        relief,
        min_distance=max(int(p.peak_distance * diameter), 1),
        labels=comp,
        exclude_border=False,
    )
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # components without a peak (very flat) still get one marker
    for lab in np.setdiff1d(np.unique(comp[mask]), np.unique(comp[tuple(peaks.T)])):
        ys, xs = np.nonzero(comp == lab)
        markers[ys[len(ys) // 2], xs[len(xs) // 2]] = markers.max() + 1
    nuclei = watershed(-relief, markers, mask=mask)
    return relabel_sequential(nuclei)[0].astype(np.int32)


def median_diameter(labels: np.ndarray) -> float:
    """Median equivalent-circle diameter of the labelled objects (0.0 when none)."""
    areas = np.bincount(labels.ravel())[1:]
    areas = areas[areas > 0]
    return float(np.median(2 * np.sqrt(areas / np.pi))) if areas.size else 0.0


def find_nuclei(image: np.ndarray, p) -> tuple[np.ndarray, float]:
    """(nucleus labels (int32, 0 = background, 1..n), the diameter used in px) of a 2-D
    nucleus image (any integer or float dtype; RGB taken by its brightest plane), with the
    settings of a `SegmentParams`; its `nucleus_diameter` None means estimated here."""
    img = _as_plane(image)
    if p.nucleus_diameter:
        return _nuclei_at(img, float(p.nucleus_diameter), p), float(p.nucleus_diameter)
    first = estimate_diameter(img)
    if first <= 0:
        return np.zeros(img.shape, np.int32), 0.0
    nuclei = _nuclei_at(img, first, p)
    found = typical_diameter(nuclei)
    if found <= 0:
        return nuclei, first
    return _nuclei_at(img, found, p), found
