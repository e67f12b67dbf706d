"""The tf.data input pipeline: HPA samples -> (float32 [B, H, W, 4] in 0..1, multi-hot [B, 28]).

It streams: only the Ids and labels live in memory; each element is read (and, for
training, augmented) by a parallel `map`. Decoding runs in Python threads (PIL releases
the GIL while it inflates a PNG) through `tf.numpy_function`, so bad files raise
`gapnet.data.images.ImageError` naming the file rather than a bare TensorFlow error.

Order: per epoch, a seeded permutation of the Ids (training only) -> parallel read +
augment -> batch; then prefetch. Epoch e's order and per-element augmentation seeds are
stateless functions of (seed, e), so a run resumed at epoch e sees exactly the batches an
uninterrupted run would, and the element order never depends on thread scheduling when
`deterministic=True`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from gapnet.classes import CHANNELS, N_CLASSES
from gapnet.data.images import read_sample


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
                 indices=None, weights=None, epochs: tuple[int, int] | None = None
                 ) -> tf.data.Dataset:
    """Builds the input pipeline over the samples a reader knows.

    Args:
        reader: maps a sample index to a uint8 (H, W, 4) array (`PngReader`, or the uint8
            cache of `gapnet.data.cache`); needs `size` and `__len__`.
        targets: multi-hot (n, 28) labels aligned with the reader, or None (prediction:
            the dataset then yields images only).
        batch_size: samples per batch (the last batch may be smaller).
        training: shuffle each epoch (seeded) and augment.
        epochs: training only: (start, stop) yields the batches of epochs start..stop-1 in
            one dataset (fit with `steps_per_epoch`), each epoch's order a function of
            (seed, epoch); None: one epoch per iteration, each with a fresh random key.
        augmenter: a callable (uint8 image, seed) -> float32 0..1 image, e.g.
            `gapnet.data.augment.CpuAugmenter`; None for no CPU-side augmentation.
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
    idx_const = tf.constant(indices)
    logits = None
    if weights is not None and training:
        p = np.asarray(weights, np.float64)[indices]
        logits = tf.constant(np.log(p / p.sum())[None, :], tf.float32)

    def epoch_elements(e):
        """(index, augmentation seed) pairs of epoch e: stateless in (seed, e)."""
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(e, tf.int64)])
        if logits is not None:  # virtual oversampling: n draws with replacement
            order = tf.gather(idx_const, tf.random.stateless_categorical(logits, n, key)[0])
        else:
            order = tf.random.experimental.stateless_shuffle(idx_const, key)
        aug = tf.random.stateless_uniform([n], key + tf.constant([0, 1 << 32], tf.int64),
                                          minval=0, maxval=2**31 - 1, dtype=tf.int64)
        return tf.data.Dataset.from_tensor_slices((order, aug))

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

    def tf_load_batch(i, s):
        img = tf.numpy_function(reader.read_batch, [i], tf.uint8, stateful=False)
        img = tf.cast(tf.ensure_shape(img, (None, size, size, len(CHANNELS))), tf.float32)
        img = img * np.float32(1 / 255)  # bit-identical to the per-sample path
        return img if targets is None else (img, tf.gather(labels, i))

    def batches(elements):
        if hasattr(reader, "read_batch") and not use_aug:  # uint8 cache: one gather per batch
            return elements.batch(batch_size).map(tf_load_batch, num_parallel_calls=tf.data.AUTOTUNE,
                                                  deterministic=deterministic)
        return elements.map(tf_load, num_parallel_calls=tf.data.AUTOTUNE,
                            deterministic=deterministic).batch(batch_size)

    if not training:
        ds = batches(tf.data.Dataset.from_tensor_slices((idx_const, tf.zeros_like(idx_const))))
    else:
        # A fixed range of epochs (resumable), or a fresh random epoch key per iteration.
        keys = (tf.data.Dataset.range(*epochs) if epochs is not None else
                tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1))
        ds = keys.flat_map(lambda e: batches(epoch_elements(e)))
    return ds.prefetch(tf.data.AUTOTUNE)
