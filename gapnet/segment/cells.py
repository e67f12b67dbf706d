"""Cell segmentation that needs no download: nuclei from the blue channel, cell bodies by
a watershed seeded by the nuclei on the cytoplasm channels (scikit-image).

Nuclei (`SegmentParams.method`): "learned", the default, by a small U-Net trained on
hand-annotated nuclei whose weights ship in the package (`gapnet.segment.learned`), or
"classical", `gapnet.segment.nuclei` (background removed, a global log-Otsu level combined
with a local one, touching nuclei split on distance x intensity); both measured on real
references in docs/segmentation.md. Cells (`grow_cells`): the
cytoplasm planes (red + yellow in an HPA image), each smoothed, offset-corrected and scaled,
then summed and thresholded at `body_threshold` x its Otsu level; a watershed on the inverted
signal from the nuclei grows each nucleus into its cell; body pixels no nucleus reaches stay
background. Label images: 0 = background, 1..n the objects (cell i holds nucleus i);
`edge_labels` names the objects cut by the image's border.

The parameter that matters across microscopes is `nucleus_diameter`, the expected nucleus
diameter in pixels at the image's size (about 50 at HPA's 512 px, 200 at 2048); left None
it is estimated from the image (`gapnet.segment.nucleus_size`). Results on real references:
docs/segmentation.md. Reading and writing masks: `gapnet.segment.masks`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gapnet.classes import CHANNELS
from gapnet.segment.nuclei import _as_plane, find_nuclei, median_diameter

METHODS = ("learned", "classical")
CELL_DIAMETER = 50.0  # px: the learned method grows bodies where nuclei are about this size


@dataclass(frozen=True)
class SegmentParams:
    # expected nucleus diameter in pixels at the image's size; None: estimated from the image
    nucleus_diameter: float | None = None
    body_threshold: float = 0.25  # cell-body level as a fraction of the Otsu threshold
    nucleus_threshold: float = 1.0  # x the global nucleus level (segment_nuclei's step 2)
    smooth: float = 0.04  # Gaussian sigma as a fraction of the nucleus diameter
    local_fraction: float = 0.25  # a nucleus pixel is above this x the brightest one near it
    peak_distance: float = 0.6  # nucleus centres at least this x the diameter apart
    compactness: float = 3.0  # cell growth: weight of the distance to its nucleus (x diameter^-2)
    # nuclei by the learned segmenter (gapnet.segment.learned, the default) or by the
    # classical threshold-and-watershed pipeline (gapnet.segment.nuclei), whose settings
    # are nucleus_threshold ... peak_distance above
    method: str = "learned"  # or "classical" (docs/segmentation.md)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown segmentation method {self.method!r}: one of {METHODS}")


def nuclei_and_diameter(blue: np.ndarray, p: SegmentParams = SegmentParams()):
    """(nucleus labels (int32), the nucleus diameter used in px) of a nucleus plane (2-D, any
    dtype; RGB taken by its brightest plane) by `p.method` (the learned method uses only
    `nucleus_diameter` of the nucleus settings)."""
    if p.method == "classical":
        return find_nuclei(blue, p)
    from gapnet.segment.learned import find_nuclei_learned

    return find_nuclei_learned(_as_plane(blue), p.nucleus_diameter)


def segment_nuclei(blue: np.ndarray, p: SegmentParams = SegmentParams()) -> np.ndarray:
    """Nucleus label image (int32, 0 = background) from the blue channel (2-D, any dtype):
    `nuclei_and_diameter` without the diameter it used."""
    return nuclei_and_diameter(blue, p)[0]


def segment_cells(
    image: np.ndarray, p: SegmentParams = SegmentParams(), nuclei: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(cells, nuclei) label images of an (H, W, 4) image in gapnet's channel order (uint8
    or 16-bit), bodies from its red + yellow planes (`grow_cells`)."""
    blue = image[..., CHANNELS.index("blue")]
    body = [image[..., CHANNELS.index(c)] for c in ("red", "yellow")]
    return grow_cells(blue, body, p, nuclei)[:2]


def grow_cells(
    blue: np.ndarray,
    body: list[np.ndarray],
    p: SegmentParams = SegmentParams(),
    nuclei: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """(cells, nuclei, nucleus diameter used in px) from a nucleus plane and the cytoplasm
    planes (any of microtubules, ER, ...; none: cells are empty).

    Body signal: the planes, each smoothed, less its 0.5th percentile, scaled by its 99.9th,
    then summed; cell pixels are above `body_threshold` x its Otsu level. A compact
    watershed on the inverted signal (`compactness`: flat bodies split halfway between their
    nuclei) grows nucleus i into cell i. Every nucleus is inside the mask, so cell i exists
    for every nucleus i and holds it: both images share their labels. With the learned
    method and nuclei over 1.5 x CELL_DIAMETER px, the bodies are grown on a copy reduced
    so that nuclei are CELL_DIAMETER px across (a 2048-px HPA field: 512 px, where
    HPA-Cell-Segmentation works too) and enlarged back (nearest neighbour), each nucleus
    kept whole in its cell: 2048-px fields in about a second instead of seven.
    """
    if nuclei is None:
        nuclei, diameter = nuclei_and_diameter(blue, p)
    else:
        diameter = p.nucleus_diameter or median_diameter(nuclei)
    if not body or not nuclei.max():
        return np.zeros_like(nuclei), nuclei.astype(np.int32), diameter
    nuclei = nuclei.astype(np.int32)
    f = CELL_DIAMETER / diameter
    if p.method == "classical" or f > 1 / 1.5:
        return _grown(body, nuclei, diameter, p), nuclei, diameter
    # large nuclei (a 2048-px HPA field): bodies grown on a copy where nuclei are
    # CELL_DIAMETER px across (HPA's 512-px scale), enlarged back by nearest neighbour
    import cv2

    from gapnet.segment.masks import resize_labels

    h, w = nuclei.shape
    size = (max(int(round(w * f)), 1), max(int(round(h * f)), 1))
    small = [cv2.resize(b.astype(np.float32), size, interpolation=cv2.INTER_AREA) for b in body]
    cells = _grown(small, resize_labels(nuclei, size[::-1]), diameter * f, p)
    cells = resize_labels(cells, (h, w))
    cells[nuclei > 0] = nuclei[nuclei > 0]  # every nucleus inside its own cell
    return cells, nuclei, diameter


def _grown(body: list[np.ndarray], nuclei: np.ndarray, diameter: float, p) -> np.ndarray:
    """Cells grown from the nuclei on the body planes (`grow_cells`' steps)."""
    from scipy import ndimage as ndi
    from skimage.filters import threshold_otsu
    from skimage.segmentation import watershed

    sigma = max(p.smooth * diameter, 0.5)
    signal = np.zeros(nuclei.shape, np.float32)
    for plane in body:
        x = ndi.gaussian_filter(plane.astype(np.float32), sigma)
        x = np.clip(x - np.percentile(x, 0.5), 0, None)
        signal += x / max(float(np.percentile(x, 99.9)), 1e-6)
    level = threshold_otsu(signal) if signal.max() > signal.min() else np.inf
    mask = (signal > p.body_threshold * level) | (nuclei > 0)
    cells = watershed(-signal, nuclei, mask=mask, compactness=p.compactness / diameter**2)
    return cells.astype(np.int32)


def edge_labels(labels: np.ndarray) -> np.ndarray:
    """The labels of the objects that touch the image's border (cut by the field of view)."""
    border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    return np.setdiff1d(np.unique(border), [0])
