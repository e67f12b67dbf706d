"""The tf.data input pipeline: HPA samples -> (float32 [B, H, W, 4] in 0..1, multi-hot [B, 28]).

It streams: only the Ids and labels live in memory; each element is read (and, for
training, augmented) by a parallel `map`. Decoding runs in Python threads (PIL releases
the GIL while it inflates a PNG) through `tf.numpy_function`, so bad files raise
`gapnet.images.ImageError` naming the file rather than a bare TensorFlow error.

Order: seeded shuffle of the Ids (training only) -> parallel read + augment -> batch ->
prefetch. Each element gets its own augmentation seed from `tf.data.Dataset.random`, so a
run's augmentations do not depend on thread scheduling; with `deterministic=True` the
element order is fixed too, and the same seed gives the same batches.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from gapnet.classes import CHANNELS, N_CLASSES
from gapnet.images import read_sample


class PngReader:
    """Reads sample i of `ids` from Kaggle-layout files as uint8 (size, size, 4)."""

    def __init__(self, image_dir: str, ext: str, ids, size: int):
        self.image_dir, self.ext, self.ids, self.size = image_dir, ext, list(ids), size
        self.kind = f"{ext.upper()} files in {image_dir}"

    def __len__(self) -> int:
        return len(self.ids)

    def __call__(self, i: int) -> np.ndarray:
        return read_sample(self.image_dir, self.ids[i], self.size, self.ext)


def make_dataset(reader, targets: np.ndarray | None, batch_size: int, *, training: bool,
                 augmenter=None, seed: int = 0, deterministic: bool = True,
                 indices=None, weights=None) -> tf.data.Dataset:
    """Builds the input pipeline over the samples a reader knows.

    Args:
        reader: maps a sample index to a uint8 (H, W, 4) array (`PngReader`, or the uint8
            cache of `gapnet.cache`); needs `size` and `__len__`.
        targets: multi-hot (n, 28) labels aligned with the reader, or None (prediction:
            the dataset then yields images only).
        batch_size: samples per batch (the last batch may be smaller).
        training: shuffle each epoch (seeded) and augment.
        augmenter: a callable (uint8 image, seed) -> float32 0..1 image, e.g.
            `gapnet.augment.CpuAugmenter`; None for no CPU-side augmentation.
        seed: seeds the shuffle and the per-element augmentation seeds.
        deterministic: keep element order fixed under parallel reads.
        indices: the subset of reader indices to use (default: all), e.g. one fold.
        weights: optional per-index sampling weights (virtual oversampling): with weights,
            each epoch draws len(indices) samples with replacement in proportion to them.
    """
    indices = np.arange(len(reader)) if indices is None else np.asarray(indices, np.int64)
    size = reader.size
    n = len(indices)
    labels = (np.zeros((len(reader), N_CLASSES), np.float32) if targets is None
              else np.asarray(targets, np.float32))

    if weights is not None and training:
        p = np.asarray(weights, np.float64)[indices]
        logits = tf.constant(np.log(p / p.sum())[None, :], tf.float32)
        idx_const = tf.constant(indices)
        ds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(n).map(
            lambda s: idx_const[tf.random.stateless_categorical(
                logits, 1, tf.stack([s, s // 7 + 1]))[0, 0]])
    else:
        ds = tf.data.Dataset.from_tensor_slices(indices)
        if training:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    aug_seeds = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True)
    ds = tf.data.Dataset.zip((ds, aug_seeds))

    use_aug = training and augmenter is not None

    def load(i, s):
        img = reader(int(i))
        if use_aug:
            return augmenter(img, int(s))
        return img.astype(np.float32) * np.float32(1 / 255)

    def tf_load(i, s):
        img = tf.numpy_function(load, [i, s], tf.float32, stateful=False)
        img.set_shape((size, size, len(CHANNELS)))
        if targets is None:
            return img
        return img, tf.gather(labels, i)

    ds = ds.map(tf_load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    ds = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return ds
