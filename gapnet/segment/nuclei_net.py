"""The learned nucleus segmenter's network, its training targets and its post-processing.

A small U-Net (3 levels, 16-32-64 filters, a 128-filter bottom; about 0.49 M parameters)
reads one nucleus plane, normalised by its 1st and 99.8th percentiles, at a scale where
nuclei are about `TRAIN_DIAMETER` px across, and gives two maps (logits):

- `foreground`: the pixel is inside a nucleus;
- `centre`: the distance to the nucleus' own edge divided by its largest such distance
  (1 at the nucleus' centre, 0 at its edge and outside), which stays low on the seam
  between touching nuclei.

Post-processing (`labels_from_maps`): the cores (centre > `CORE` inside the foreground,
of at least `MIN_AREA` px) are the seeds of a watershed on the inverted centre map within
the foreground, so touching nuclei split where their centre maps meet; foreground objects
without a core keep their own label; objects under `MIN_AREA` (at the model's scale) are dropped.
"""

from __future__ import annotations

import numpy as np

TRAIN_DIAMETER = 20.0  # px: nuclei are resampled to about this size for the network
LEVELS = (16, 32, 64)
BOTTOM = 128
FOREGROUND = 0.5  # probability above which a pixel is nucleus
CORE = 0.3  # centre value above which a pixel seeds its nucleus (docs/segmentation.md)
MIN_AREA = 12  # px at the model's scale (a nucleus of ~20 px covers ~310)
PAD = 2 ** len(LEVELS)  # the network's input sides are multiples of this


def build_unet(name: str = "nuclei_unet"):
    """The network (functional Keras, named layers): (None, None, 1) -> (None, None, 2) logits
    of the foreground and centre maps; input sides must be multiples of `PAD`."""
    import keras
    from keras import layers

    def block(x, filters, tag):
        for k in (1, 2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{tag}_conv{k}")(x)
            x = layers.BatchNormalization(name=f"{tag}_bn{k}")(x)
            x = layers.Activation("relu", name=f"{tag}_relu{k}")(x)
        return x

    inp = keras.Input((None, None, 1), name="nucleus_plane")
    x, skips = inp, []
    for i, f in enumerate(LEVELS):
        x = block(x, f, f"down{i}")
        skips.append(x)
        x = layers.MaxPooling2D(name=f"down{i}_pool")(x)
    x = block(x, BOTTOM, "bottom")
    for i in reversed(range(len(LEVELS))):
        x = layers.UpSampling2D(interpolation="bilinear", name=f"up{i}_resize")(x)
        x = layers.Concatenate(name=f"up{i}_skip")([x, skips[i]])
        x = block(x, LEVELS[i], f"up{i}")
    out = layers.Conv2D(2, 1, name="maps")(x)
    return keras.Model(inp, out, name=name)


def map_loss(y_true, y_pred):
    """Binary cross-entropy of both maps (the centre map's targets are soft, in [0, 1]),
    the centre map weighted twice: it decides the splits."""
    from keras import ops

    bce = ops.binary_crossentropy(y_true, y_pred, from_logits=True)
    return ops.mean(bce[..., 0]) + 2.0 * ops.mean(bce[..., 1])


def normalise(plane: np.ndarray) -> np.ndarray:
    """float32 plane scaled so its 1st percentile is 0 and its 99.8th is 1 (not clipped)."""
    x = plane.astype(np.float32)
    lo, hi = np.percentile(x, (1.0, 99.8))
    return (x - lo) / max(float(hi - lo), 1e-6)


def resample(plane: np.ndarray, labels: np.ndarray | None, factor: float):
    """The plane (area-averaged when shrunk, bilinear when enlarged) and labels (nearest)
    resized by `factor`."""
    import cv2

    from gapnet.segment.masks import resize_labels

    h, w = plane.shape
    size = (max(int(round(w * factor)), 1), max(int(round(h * factor)), 1))
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    out = cv2.resize(plane.astype(np.float32), size, interpolation=interp)
    return out, (None if labels is None else resize_labels(labels, (size[1], size[0])))


def targets(labels: np.ndarray) -> np.ndarray:
    """(H, W, 2) float32 training targets of a label image: foreground and centre maps."""
    from scipy import ndimage as ndi
    from skimage.segmentation import find_boundaries

    inside = (labels > 0) & ~find_boundaries(labels, mode="inner")
    dist = ndi.distance_transform_edt(inside).astype(np.float32)
    n = int(labels.max())
    peak = np.zeros(n + 1, np.float32)
    if n:
        peak[1:] = ndi.maximum(dist, labels, np.arange(1, n + 1))
    centre = np.where(labels > 0, dist / np.maximum(peak[labels], 1.0), 0.0)
    return np.stack([(labels > 0).astype(np.float32), centre.astype(np.float32)], -1)


def labels_from_maps(foreground: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Nucleus labels (int32) from the two probability maps (at the model's scale)."""
    from scipy import ndimage as ndi
    from skimage.segmentation import relabel_sequential, watershed

    mask = foreground > FOREGROUND
    markers, n = ndi.label((centre > CORE) & mask)
    specks = np.bincount(markers.ravel()) < MIN_AREA  # a core of a few px: no nucleus' centre
    specks[0] = False
    markers[specks[markers]] = 0
    comp, _ = ndi.label(mask)
    seeded = np.unique(comp[markers > 0])
    lonely = np.setdiff1d(np.unique(comp), np.concatenate([seeded, [0]]))
    alone = np.isin(comp, lonely)  # foreground objects without a core: seeds of their own
    markers[alone] = comp[alone] + n
    nuclei = watershed(-centre, markers, mask=mask)
    sizes = np.bincount(nuclei.ravel())
    small = sizes < MIN_AREA
    small[0] = True
    nuclei[small[nuclei]] = 0
    return relabel_sequential(nuclei)[0].astype(np.int32)
