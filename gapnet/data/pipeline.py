"""The tf.data input pipeline: HPA samples -> (uint8 [B, H, W, C], multi-hot [B, classes])
(C: the run's channels, 4 by default).

Batches stay uint8, a quarter of float32's bytes, all the way to the model: every gapnet
network converts to float in 0..1 in its first layer (`to_float`), on the device.

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
from gapnet.data.images import describe_ext, read_sample


class PngReader:
    """Reads sample i of `ids` from Kaggle-layout files as uint8 (size, size, C); `ext` is
    one extension or a mapping Id -> extension (`HPASource.ext`); `channels`: the run's
    `gapnet.channels.ChannelSet` (default the four)."""

    def __init__(self, image_dir: str, ext, ids, size: int, channels=None):
        from gapnet.channels import ALL

        self.image_dir, self.ext, self.ids, self.size = image_dir, ext, list(ids), size
        self.channels = channels or ALL
        self.shape = (size, size, len(self.channels))
        self.kind = f"{describe_ext(ext)} files in {image_dir}"

    def __len__(self) -> int:
        return len(self.ids)

    def __call__(self, i: int) -> np.ndarray:
        return read_sample(self.image_dir, self.ids[i], self.size, self.ext, self.channels)


def epoch_size(n: int, batch_size: int, parts: int = 1) -> int:
    """Samples per training epoch: n, less the last partial batch when it is smaller than
    `parts` (so that every replica gets a share of every global batch)."""
    rest = n % batch_size
    return n - rest if 0 < rest < parts else n


def steps_per_epoch(n: int, batch_size: int, parts: int = 1) -> int:
    """Global batches per training epoch (the last one may be partial)."""
    return -(-epoch_size(n, batch_size, parts) // batch_size)


def make_dataset(
    reader,
    targets: np.ndarray | None,
    batch_size: int,
    *,
    training: bool,
    augmenter=None,
    seed: int = 0,
    deterministic: bool = True,
    indices=None,
    weights=None,
    epochs: tuple[int, int] | None = None,
    shard: tuple[int, int, int] | None = None,
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
        augmenter: a callable (uint8 image, seed) -> uint8 image, e.g.
            `gapnet.data.augment.CpuAugmenter`; None for no CPU-side augmentation.
        seed: seeds the shuffle and the per-element augmentation seeds.
        deterministic: keep element order fixed under parallel reads.
        indices: the subset of reader indices to use (default: all), e.g. one fold.
        weights: optional per-index sampling weights (virtual oversampling): with weights,
            each epoch draws len(indices) samples with replacement in proportion to them.
        shard: training only, for `tf.distribute` input pipelines: (first, count, parts).
            Every global batch of `batch_size` is split into `parts` (position t of the
            batch goes to part t % parts, one part per replica); this pipeline reads only
            parts first..first+count-1 (this worker's replicas) and yields them in turn,
            each batch of size batch_size / parts. The parts of a global batch are exactly
            its samples in one process; each epoch has `epoch_size(n, batch_size, parts)`.
    """
    indices = np.arange(len(reader)) if indices is None else np.asarray(indices, np.int64)
    size = reader.size
    depth = getattr(reader, "shape", (0, 0, len(CHANNELS)))[-1]  # C input channels
    n = len(indices)
    parts = 1 if shard is None else shard[2]
    if shard is not None and (not training or batch_size % parts):
        raise ValueError(
            f"shard: training only, with a batch size ({batch_size}) that {parts} parts divide"
        )
    n_epoch = epoch_size(n, batch_size, parts)
    labels = (
        np.zeros((len(reader), N_CLASSES), np.float32)
        if targets is None
        else np.asarray(targets, np.float32)
    )
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
        aug = tf.random.stateless_uniform(
            [n],
            key + tf.constant([0, 1 << 32], tf.int64),
            minval=0,
            maxval=2**31 - 1,
            dtype=tf.int64,
        )
        return tf.data.Dataset.from_tensor_slices((order[:n_epoch], aug[:n_epoch]))

    use_aug = training and augmenter is not None

    def load(i, s):
        img = reader(int(i))
        return augmenter(img, int(s)) if use_aug else img

    def tf_load(i, s):
        img = tf.numpy_function(load, [i, s], tf.uint8, stateful=False)
        img.set_shape((size, size, depth))
        if targets is None:
            return img
        return img, tf.gather(labels, i)

    def tf_load_batch(i, s):
        img = tf.numpy_function(reader.read_batch, [i], tf.uint8, stateful=False)
        img = tf.ensure_shape(img, (None, size, size, depth))
        return img if targets is None else (img, tf.gather(labels, i))

    by_batch = hasattr(reader, "read_batch") and not use_aug  # uint8 cache: one gather a batch

    def part_batches(elements, p):
        """Part p of every global batch of `elements` (all of it without sharding)."""
        if by_batch:
            elements = elements.batch(batch_size)
            if parts > 1:
                elements = elements.map(lambda i, s: (i[p::parts], s[p::parts]))
            return elements.map(
                tf_load_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic
            )
        if parts > 1:  # keep the positions t of each batch with t % parts == p
            elements = (
                elements.enumerate()
                .filter(lambda k, e: (k % batch_size) % parts == p)
                .map(lambda k, e: e)
            )
        return elements.map(
            tf_load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic
        ).batch(batch_size // parts)

    def batches(elements):
        if shard is None:
            return part_batches(elements, 0)
        first, count = shard[0], shard[1]
        mine = [part_batches(elements, first + r) for r in range(count)]
        if count == 1:
            return mine[0]
        return tf.data.Dataset.choose_from_datasets(mine, tf.data.Dataset.range(count).repeat())

    if not training:
        ds = batches(tf.data.Dataset.from_tensor_slices((idx_const, tf.zeros_like(idx_const))))
    else:
        # A fixed range of epochs (resumable), or a fresh random epoch key per iteration.
        keys = (
            tf.data.Dataset.range(*epochs)
            if epochs is not None
            else tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        )
        ds = keys.flat_map(lambda e: batches(epoch_elements(e)))
    return ds.prefetch(tf.data.AUTOTUNE)
