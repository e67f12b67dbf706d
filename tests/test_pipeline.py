import numpy as np
import pytest

from gapnet.data.augment import AugmentRecipe, CpuAugmenter
from gapnet.data.images import read_sample
from gapnet.data.pipeline import PngReader, make_dataset
from gapnet.data.source import open_source


def reader_for(root, size=64):
    src = open_source(root)
    return src, PngReader(src.image_dir, src.ext, src.labels.ids, size)


def test_shapes_dtypes_and_values(kaggle_root):
    src, reader = reader_for(kaggle_root)
    ds = make_dataset(reader, src.labels.targets, 4, training=False)
    batches = list(ds)
    assert [b[0].shape[0] for b in batches] == [4, 2]
    x, y = batches[0]
    assert x.shape == (4, 64, 64, 4) and x.dtype.name == "uint8"  # the model scales it
    assert y.shape == (4, 28) and y.dtype.name == "float32"
    np.testing.assert_array_equal(x[0].numpy(), read_sample(src.image_dir, "sample00", 64))
    np.testing.assert_array_equal(y.numpy(), src.labels.targets[:4])


def test_training_shuffles_with_seed_and_keeps_labels_with_images(kaggle_root):
    src, reader = reader_for(kaggle_root)
    fingerprint = {i: reader(i).mean() for i in range(len(reader))}

    def order(seed):
        ds = make_dataset(reader, src.labels.targets, 6, training=True, seed=seed)
        x, y = next(iter(ds))
        return x.numpy(), y.numpy()

    x1, y1 = order(1)
    x2, _ = order(1)
    np.testing.assert_array_equal(x1, x2)  # same seed, same first epoch
    means = x1.mean((1, 2, 3), dtype=np.float64)
    for m, label in zip(means, y1, strict=True):
        i = min(fingerprint, key=lambda k: abs(fingerprint[k] - m))
        np.testing.assert_array_equal(label, src.labels.targets[i])
    np.testing.assert_allclose(sorted(means), sorted(fingerprint.values()), atol=1e-5)


def test_augmented_pipeline_leaves_labels_untouched(kaggle_root):
    src, reader = reader_for(kaggle_root)
    ds = make_dataset(
        reader,
        src.labels.targets,
        6,
        training=True,
        seed=0,
        augmenter=CpuAugmenter(AugmentRecipe()),
    )
    for _ in range(2):  # two epochs
        x, y = next(iter(ds))
        assert x.shape == (6, 64, 64, 4) and float(x.numpy().min()) >= 0
        assert sorted(map(tuple, y.numpy())) == sorted(
            map(tuple, src.labels.targets.astype("float32"))
        )


def test_prediction_mode_yields_images_in_order(kaggle_root):
    src, reader = reader_for(kaggle_root)
    ds = make_dataset(reader, None, 4, training=False, indices=[5, 1])
    (x,) = list(ds)
    np.testing.assert_array_equal(x[1].numpy(), reader(1))


def test_sampling_weights_oversample(kaggle_root):
    src, reader = reader_for(kaggle_root)
    w = np.array([1, 1, 1, 1, 1, 100.0])
    ds = make_dataset(reader, src.labels.targets, 6, training=True, weights=w)
    ys = np.concatenate([y.numpy() for _, y in ds.repeat(5)])
    assert (ys[:, 27] == 1).mean() > 0.8  # sample05 ("27") dominates


class CountingReader:
    """In-memory uint8 samples whose value is the index; counts which samples were read."""

    size = 4

    def __init__(self, n, batch=False):
        self.n, self.read = n, []
        if batch:
            self.read_batch = lambda idx: np.stack([self(int(i)) for i in idx])

    def __len__(self):
        return self.n

    def __call__(self, i):
        self.read.append(i)
        return np.full((4, 4, 4), i, np.uint8)


@pytest.mark.parametrize("by_batch", [False, True])
@pytest.mark.parametrize("n", [22, 21])  # 22 % 8 = 6; 21 % 8 = 5 (odd: uneven shares)
def test_each_worker_reads_only_its_share_of_every_global_batch(n, by_batch):
    """Two workers (one replica each): together they read each global batch exactly once,
    each only its half, and yield the global batches of a single process."""
    targets = np.eye(28, dtype=np.float32)[np.arange(n) % 28]
    kw = dict(training=True, seed=4, epochs=(0, 2))
    whole = CountingReader(n, by_batch)
    single = [x.numpy()[:, 0, 0, 0] for x, _ in make_dataset(whole, targets, 8, **kw)]
    readers = [CountingReader(n, by_batch) for _ in range(2)]
    halves = [
        [
            (x.numpy()[:, 0, 0, 0], y.numpy().argmax(1))
            for x, y in make_dataset(r, targets, 8, shard=(w, 1, 2), **kw)
        ]
        for w, r in enumerate(readers)
    ]
    assert len(halves[0]) == len(halves[1]) == len(single) == 6  # 3 batches x 2 epochs
    for b, full in enumerate(single):
        merged = np.empty(len(full), full.dtype)
        merged[0::2], merged[1::2] = halves[0][b][0], halves[1][b][0]
        np.testing.assert_array_equal(merged, full)  # the same global batch
        for w in range(2):  # labels travel with their images
            np.testing.assert_array_equal(halves[w][b][1], halves[w][b][0] % 28)
    assert sorted(readers[0].read + readers[1].read) == sorted(whole.read)
    assert abs(len(readers[0].read) - len(readers[1].read)) <= 2


def test_a_last_batch_smaller_than_the_replicas_is_dropped_for_all():
    """With 17 samples, batch 8 and 2 replicas the last global batch would hold one sample,
    leaving a replica nothing: that sample is left out of the epoch (a different one each
    epoch), in a single process too when asked for 2 parts."""
    from gapnet.data.pipeline import epoch_size, steps_per_epoch

    assert (epoch_size(17, 8, 2), steps_per_epoch(17, 8, 2)) == (16, 2)
    assert (epoch_size(17, 8, 1), steps_per_epoch(17, 8, 1)) == (17, 3)
    assert (epoch_size(18, 8, 2), steps_per_epoch(18, 8, 2)) == (18, 3)
    targets = np.zeros((17, 28), np.float32)
    sizes = [
        [
            len(x)
            for x, _ in make_dataset(
                CountingReader(17), targets, 8, training=True, epochs=(0, 1), shard=(w, 1, 2)
            )
        ]
        for w in range(2)
    ]
    assert sizes == [[4, 4], [4, 4]]
    with pytest.raises(ValueError, match="divide"):
        make_dataset(CountingReader(17), targets, 7, training=True, shard=(0, 1, 2))
