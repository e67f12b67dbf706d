"""Input-pipeline throughput, side by side on the same files in one run (samples/s).

    python benchmarks/pipeline.py [--data ROOT] [--n 240] [--size 512] [--batch 20]

Rows: the raw decode limit (the same samples decoded in a tight loop on all cores, no
tf.data), the tf.data pipeline without augmentation, with the full CPU augmentation
recipe (albumentations + NumPy), the same two read from the uint8 cache
(`data_prep/build_cache.py`), and Keras' own geometric layers for comparison. Without --data the samples are made of
the real HPA PNGs in tests/data (each sample's four channels are real single-channel
files), so decode cost is that of real images. Files are read once before timing, so
every row measures decoding from the page cache, not the disk.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gapnet.data.augment import AugmentRecipe, CpuAugmenter  # noqa: E402
from gapnet.classes import CHANNELS  # noqa: E402
from gapnet.config import Config  # noqa: E402
from gapnet.data.source import open_source  # noqa: E402
from gapnet.data.images import read_sample  # noqa: E402
from gapnet.data.pipeline import PngReader, make_dataset  # noqa: E402

TESTS_PNG = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "kaggle_png")


def real_png_root(n: int) -> str:
    """A Kaggle-layout folder of n samples built from the real single-channel PNGs."""
    root = tempfile.mkdtemp(prefix="gapnet-bench-")
    os.makedirs(os.path.join(root, "train"))
    pngs = sorted(f for f in os.listdir(TESTS_PNG) if f.endswith(".png"))
    with open(os.path.join(root, "train.csv"), "w") as f:
        f.write("Id,Target\n")
        for s in range(n):
            for c, color in enumerate(CHANNELS):
                src = os.path.join(TESTS_PNG, pngs[(s + c) % len(pngs)])
                shutil.copy(src, os.path.join(root, "train", f"s{s:05d}_{color}.png"))
            f.write(f"s{s:05d},{s % 28}\n")
    return root


def timed(fn, n: int, repeat: int = 2) -> float:
    best = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = max(best, n / (time.perf_counter() - t))
    return best


def drain(ds) -> None:
    for _ in ds:
        pass


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="Kaggle-layout root (default: samples of real HPA PNGs)")
    p.add_argument("--n", type=int, default=240, help="samples to time (default 240)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--batch", type=int, default=20)
    args = p.parse_args(argv)

    root = args.data or real_png_root(args.n)
    src = open_source(root)
    ids = list(src.labels.ids[: args.n])
    n, size = len(ids), args.size
    reader = PngReader(src.image_dir, src.ext, ids, size)
    targets = src.labels.targets[:n]
    workers = os.cpu_count() or 1
    for i in ids:  # warm the page cache
        for path in src.paths(i):
            open(path, "rb").read()

    def raw():
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda i: read_sample(src.image_dir, i, size, src.ext), ids))

    rows = [("raw decode limit (threads, no tf.data)", timed(raw, n))]
    plain = make_dataset(reader, targets, args.batch, training=False)
    rows.append(("tf.data, no augmentation", timed(lambda: drain(plain), n)))
    recipe = AugmentRecipe.from_config(Config(image_size=size))  # the default recipe
    aug = make_dataset(reader, targets, args.batch, training=True,
                       augmenter=CpuAugmenter(recipe))
    rows.append(("tf.data + full augmentation (albumentations)", timed(lambda: drain(aug), n)))

    from gapnet.data import cache

    t = time.perf_counter()
    folder = cache.build(root, size, progress=False, log=lambda *a: None)
    build_rate = n / (time.perf_counter() - t)
    cached = cache.CacheReader(folder, ids)
    for _ in range(2):  # warm: the memmap pages in the page cache, as after a first epoch
        drain(make_dataset(cached, targets, args.batch, training=False))
    passes = 10
    cplain = make_dataset(cached, targets, args.batch, training=False).repeat(passes)
    rows.append(("uint8 cache (memmap), no augmentation", timed(lambda: drain(cplain), n * passes)))
    import tensorflow as tf

    raw8 = tf.data.Dataset.range(n).batch(args.batch).map(
        lambda i: tf.numpy_function(cached.read_batch, [i], tf.uint8),
        num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE).repeat(passes)
    rows.append(("uint8 cache, uint8 batches (no float conversion: the ceiling)",
                 timed(lambda: drain(raw8), n * passes)))
    caug = make_dataset(cached, targets, args.batch, training=True,
                        augmenter=CpuAugmenter(recipe))
    rows.append(("uint8 cache + full augmentation", timed(lambda: drain(caug), n)))

    import keras

    geo = keras.Sequential([keras.layers.RandomFlip(), keras.layers.RandomRotation(20 / 360),
                            keras.layers.RandomZoom(0.1), keras.layers.RandomTranslation(0.05, 0.05)])
    keras_ds = make_dataset(reader, targets, args.batch, training=True).map(
        lambda x, y: (geo(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    rows.append(("tf.data + Keras geometric layers (for comparison)", timed(lambda: drain(keras_ds), n)))

    limit = rows[0][1]
    print(f"\n{n} samples of 4 x {size}x{size} PNG, batch {args.batch}, {workers} cores, "
          f"{'real HPA PNGs' if not args.data else root}")
    print("| path | samples/s | x raw decode |\n|---|---:|---:|")
    for name, rate in rows:
        print(f"| {name} | {rate:.0f} | {rate / limit:.2f} |")
    print(f"\ncache vs PNG pipeline (no augmentation): {rows[3][1] / rows[1][1]:.1f}x "
          f"(goal >= 20x; uint8 batches {rows[4][1] / rows[1][1]:.1f}x); with augmentation: "
          f"{rows[5][1] / rows[2][1]:.1f}x; "
          f"building the cache: {build_rate:.0f} samples/s")
    if not args.data:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
