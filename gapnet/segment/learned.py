"""Nuclei found by the learned segmenter (`gapnet.segment.nuclei_net`), gapnet's default.

1. The nucleus diameter: given, or estimated from the image (`nucleus_size.estimate_diameter`).
2. The plane is resampled by TRAIN_DIAMETER / diameter (nuclei ~20 px across: a 2048-px
   HPA field with ~200-px nuclei becomes ~200 px, a DSB crop with 9-px nuclei is enlarged),
   normalised by its 1st and 99.8th percentiles, and the network's two maps are computed,
   in tiles of `TILE` px overlapping by `MARGIN` when the resampled plane is larger.
3. Nuclei at that scale (`labels_from_maps`), those not `NOISE_FLOOR` noise deviations
   brighter than the background dropped (`faint_dropped`), brought back to the image's
   size: the labels by nearest neighbour, cut to the foreground map enlarged bilinearly.
4. With the diameter estimated, the nuclei found give the diameter again (their
   area-weighted median); when it differs from the first by more than `REFINE` x, step 2-3
   run once more at the new diameter. The diameter used is returned.

The weights (`weights/nuclei_unet.weights.h5`, ~2 MB, with their card `nuclei_unet.json`)
ship in the package; TensorFlow is imported only when this method runs.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from gapnet.segment.nuclei_net import (
    FOREGROUND,
    PAD,
    TRAIN_DIAMETER,
    build_unet,
    labels_from_maps,
    normalise,
    resample,
)
from gapnet.segment.nucleus_size import estimate_diameter, typical_diameter

WEIGHTS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "weights", "nuclei_unet.weights.h5"
)
TILE = 512  # px at the model's scale
MARGIN = 48  # px of context kept around each tile (the network sees ~70 px)
REFINE = 1.25
NOISE_FLOOR = 3.0  # a nucleus' mean is this many noise deviations above the background
_MODEL = None
_LOCK = threading.Lock()


def model(path: str = WEIGHTS):
    """The network with the package's weights (built and loaded once per process)."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"{path}: the learned nucleus segmenter's weights are missing from the "
                    "package (reinstall gapnet, or use method='classical')"
                )
            net = build_unet()
            net.load_weights(path)
            _MODEL = net
    return _MODEL


def _run(net, x: np.ndarray) -> np.ndarray:
    h, w = x.shape
    ph, pw = -h % PAD, -w % PAD
    x = np.pad(x, ((0, ph), (0, pw)), mode="reflect" if min(h, w) > 1 else "edge")
    y = np.asarray(net(x[None, ..., None], training=False))[0, :h, :w]
    return 1 / (1 + np.exp(-y))


def predict_maps(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(foreground, centre) probability maps of a normalised plane at the model's scale."""
    net = model()
    h, w = x.shape
    if max(h, w) <= TILE + 2 * MARGIN:
        y = _run(net, x)
        return y[..., 0], y[..., 1]
    out = np.zeros((h, w, 2), np.float32)
    for i in range(0, h, TILE):
        for j in range(0, w, TILE):
            i0, j0 = max(i - MARGIN, 0), max(j - MARGIN, 0)
            i1, j1 = min(i + TILE + MARGIN, h), min(j + TILE + MARGIN, w)
            y = _run(net, x[i0:i1, j0:j1])
            out[i : i + TILE, j : j + TILE] = y[i - i0 : i - i0 + TILE, j - j0 : j - j0 + TILE]
    return out[..., 0], out[..., 1]


def faint_dropped(labels: np.ndarray, x: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """The labels whose mean is at least `NOISE_FLOOR` robust noise deviations above the
    background's median (pixels of foreground <= 0.5): a noise-only field, stretched by
    the normalisation, gives no nuclei. (The classical method's floor is 3 deviations too.)"""
    from skimage.segmentation import relabel_sequential

    n = int(labels.max())
    back = x[fg <= FOREGROUND]
    if not n or back.size < 16:
        return labels
    med = float(np.median(back))
    noise = 1.4826 * float(np.median(np.abs(back - med)))
    means = np.bincount(labels.ravel(), x.ravel(), n + 1) / np.maximum(
        np.bincount(labels.ravel(), minlength=n + 1), 1
    )
    faint = means <= med + NOISE_FLOOR * noise
    faint[0] = True
    labels = np.where(faint[labels], 0, labels)
    return relabel_sequential(labels)[0].astype(np.int32)


def nuclei_at(plane: np.ndarray, diameter: float) -> np.ndarray:
    """Nucleus labels (int32) of a 2-D plane whose nuclei are about `diameter` px across."""
    import cv2
    from skimage.segmentation import relabel_sequential

    from gapnet.segment.masks import resize_labels

    factor = TRAIN_DIAMETER / diameter
    x = resample(plane, None, factor)[0]
    x = normalise(x)
    fg, centre = predict_maps(x)
    small = faint_dropped(labels_from_maps(fg, centre), x, fg)
    if small.shape == plane.shape:
        return small
    h, w = plane.shape
    labels = resize_labels(small, (h, w))
    labels[cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR) <= FOREGROUND] = 0
    return relabel_sequential(labels)[0].astype(np.int32)


def find_nuclei_learned(plane: np.ndarray, diameter: float | None) -> tuple[np.ndarray, float]:
    """(nucleus labels, the diameter used in px) of a 2-D nucleus plane; `diameter` None:
    estimated from the image and refined on the nuclei found."""
    img = plane.astype(np.float32)
    if float(img.max()) <= float(img.min()):
        return np.zeros(img.shape, np.int32), float(diameter or 0.0)
    if diameter:
        return nuclei_at(img, float(diameter)), float(diameter)
    d = estimate_diameter(img)
    if d <= 0:
        return np.zeros(img.shape, np.int32), 0.0
    labels = nuclei_at(img, d)
    found = typical_diameter(labels)
    if found > 0 and max(found / d, d / found) > REFINE:
        d = found
        labels = nuclei_at(img, d)
    return labels, d
