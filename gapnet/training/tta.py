"""Test-time augmentation: predictions averaged over flips and 90-degree rotations.

Sets (`Config.tta`): "none"; "flips" (identity, horizontal, vertical, both: 4 views);
"d4" (the 8 symmetries of the square: 4 rotations x optional flip). Views are exact pixel
permutations, so a model's prediction on an input symmetric under the set is unchanged.
"""

from __future__ import annotations

import numpy as np
from keras import ops

TTA_SETS = {
    "none": ((0, False),),
    "flips": ((0, False), (0, True), (2, True), (2, False)),  # id, hflip, vflip, h+v (= rot180)
    "d4": tuple((k, f) for f in (False, True) for k in range(4)),
}


def view(x, k: int, flip: bool):
    """Rotate a (B, H, W, C) batch by k*90 degrees, after a horizontal flip if `flip`."""
    if flip:
        x = ops.flip(x, axis=2)
    for _ in range(k % 4):
        x = ops.flip(ops.transpose(x, (0, 2, 1, 3)), axis=1)  # 90 degrees counter-clockwise
    return x


def predict_batch(model, x, tta: str = "none"):
    if tta not in TTA_SETS:
        raise ValueError(f"Unknown TTA set {tta!r}. Available: {sorted(TTA_SETS)}")
    views = TTA_SETS[tta]
    return sum(model(view(x, k, f), training=False) for k, f in views) / len(views)


def predict(model, data, tta: str = "none") -> np.ndarray:
    """Probabilities over a dataset of image batches (or (image, label) batches)."""
    out = []
    for batch in data:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        out.append(np.asarray(ops.convert_to_numpy(predict_batch(model, x, tta)), np.float32))
    return np.concatenate(out)
