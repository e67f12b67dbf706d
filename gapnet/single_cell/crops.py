"""Masked cell crops: each cell of a field cut out square, the pixels outside its own mask
set to 0 (the 2021 winner's input), resized to a fixed side. Pure NumPy / OpenCV.

A crop is the cell's bounding box grown to a square around its centre (plus `margin` of its
side on each edge), cut from the field (pixels outside the field are 0), the other cells'
and the background's pixels zeroed, then resized to `size` x `size` by area averaging
(INTER_AREA when shrinking, linear when enlarging). The crop keeps the field's dtype.
"""

from __future__ import annotations

import numpy as np


def cell_boxes(cells: np.ndarray) -> dict[int, tuple[int, int, int, int]]:
    """{cell label: (y0, x0, y1, x1)} bounding boxes (half-open) of the labels present."""
    from scipy import ndimage as ndi

    boxes = {}
    for label, sl in enumerate(ndi.find_objects(np.asarray(cells, np.int64)), start=1):
        if sl is not None:
            boxes[label] = (sl[0].start, sl[1].start, sl[0].stop, sl[1].stop)
    return boxes


def cell_crops(image: np.ndarray, cells: np.ndarray, size: int = 64, margin: float = 0.05):
    """(crops (n, size, size, C) in the image's dtype, the cell labels (n,)) of every cell
    in `cells` (H, W) cut from `image` (H, W, C), in label order.

    Raises:
        ValueError: the image and the mask differ in size, or size < 8."""
    import cv2

    image, cells = np.asarray(image), np.asarray(cells)
    if image.shape[:2] != cells.shape:
        raise ValueError(f"image is {image.shape[:2]}, its cell mask {cells.shape}")
    if size < 8:
        raise ValueError(f"crop size must be >= 8, got {size}")
    if image.ndim == 2:
        image = image[..., None]
    h, w, c = image.shape
    boxes = cell_boxes(cells)
    out = np.zeros((len(boxes), size, size, c), image.dtype)
    for n, (label, (y0, x0, y1, x1)) in enumerate(boxes.items()):
        side = int(np.ceil(max(y1 - y0, x1 - x0) * (1 + 2 * margin)))
        cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
        top, left = int(np.floor(cy - side / 2)), int(np.floor(cx - side / 2))
        crop = np.zeros((side, side, c), image.dtype)
        ys, xs = max(top, 0), max(left, 0)
        ye, xe = min(top + side, h), min(left + side, w)
        keep = cells[ys:ye, xs:xe] == label
        crop[ys - top : ye - top, xs - left : xe - left] = image[ys:ye, xs:xe] * keep[..., None]
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        small = cv2.resize(crop.astype(np.float32), (size, size), interpolation=interp)
        out[n] = (
            np.clip(np.rint(small), 0, np.iinfo(image.dtype).max).reshape(size, size, c)
            if (image.dtype.kind in "iu")
            else small.reshape(size, size, c)
        )
    return out, np.array(list(boxes), np.int64)
