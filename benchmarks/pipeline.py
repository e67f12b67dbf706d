"""Input-pipeline throughput, side by side on the same files in one run (samples/s).

    python benchmarks/pipeline.py [--data ROOT] [--n 240] [--size 512] [--batch 20]
                                  [--seconds 3] [--repeats 5] [--json]

Rows, all yielding what training consumes (uint8 batches with labels, shuffled, one
epoch after another): the decode limit (the same samples decoded in a tight loop on all
cores, no tf.data); the PNG path (tf.data decoding the files), with and without the CPU
augmentation recipe (OpenCV + NumPy); the cache path (the uint8 array file of
`data_prep/build_cache.py`, one gather per batch), whose augmentation then runs on the
device inside the model; and the cache with the CPU recipe. Every row is the median of
`--repeats` windows of at least `--seconds` each on one stream (benchmarks/common.py),
with the spread. Without --data the samples are made of the real HPA PNGs in tests/data
(each sample's four channels are real single-channel files), so decode cost is that of
real images; files are read once before timing (the page cache, not the disk).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from gapnet.jsonout import emit, json_main  # noqa: E402
from gapnet.quiet import quiet_tensorflow  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load() -> None:
    """TensorFlow, Keras and the gapnet modules that load them: imported by main() after
    argparse (--help never waits for them), and by a caller of this module's functions."""
    global \
        batches, \
        measure, \
        CHANNELS, \
        Config, \
        AugmentRecipe, \
        CpuAugmenter, \
        read_sample, \
        PngReader, \
        make_dataset, \
        open_source
    quiet_tensorflow()
    from benchmarks.common import batches, measure
    from gapnet.classes import CHANNELS
    from gapnet.config import Config
    from gapnet.data.augment import AugmentRecipe, CpuAugmenter
    from gapnet.data.images import read_sample
    from gapnet.data.pipeline import PngReader, make_dataset
    from gapnet.data.source import open_source


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


@json_main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="Kaggle-layout root (default: samples of real HPA PNGs)")
    p.add_argument("--n", type=int, default=240, help="samples to read (default 240)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--seconds", type=float, default=3.0, help="least seconds per window")
    p.add_argument("--repeats", type=int, default=5, help="timed windows per row (median)")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = p.parse_args(argv)
    load()  # after parsing: --help never waits for TensorFlow

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

    def timed(step):
        return measure(step, args.seconds, args.repeats)

    def decode_all():
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda i: read_sample(src.image_dir, i, size, src.ext), ids))
        return n

    recipe = AugmentRecipe.from_config(Config(image_size=size))  # the default recipe
    cpu_aug = CpuAugmenter(recipe)

    def training(reader_, augmenter=None):
        return batches(
            make_dataset(
                reader_,
                targets,
                args.batch,
                training=True,
                seed=0,
                augmenter=augmenter,
                epochs=(0, 10**6),
            )
        )

    rows = {"decode_limit": timed(decode_all)}
    rows["png"] = timed(training(reader))
    rows["png_cpu_aug"] = timed(training(reader, cpu_aug))

    from gapnet.data import cache, cache_reader

    t = time.perf_counter()
    folder = cache.build(root, size, progress=False, log=lambda *a: None)
    build_rate = n / (time.perf_counter() - t)
    cached = cache_reader.CacheReader(folder, ids)
    rows["cache"] = timed(training(cached))
    rows["cache_cpu_aug"] = timed(training(cached, cpu_aug))

    names = {
        "decode_limit": "decode limit (threads, no tf.data)",
        "png": "PNG path, augmentation on the device",
        "png_cpu_aug": "PNG path + CPU augmentation (OpenCV)",
        "cache": "cache path (uint8 batches into the model), augmentation on the device",
        "cache_cpu_aug": "cache path + CPU augmentation (OpenCV)",
    }
    limit = rows["decode_limit"].median
    print(
        f"\n{n} samples of 4 x {size}x{size} PNG, batch {args.batch}, {workers} cores, "
        f"{'real HPA PNGs' if not args.data else root}; median of {args.repeats} windows "
        f"of >= {args.seconds:g} s (lowest-highest)"
    )
    print("| path | samples/s | x decode limit |\n|---|---:|---:|")
    for key, r in rows.items():
        print(f"| {names[key]} | {r.cell()} | {r.median / limit:.2f} |")
    ratio = rows["cache"].median / rows["png"].median
    print(
        f"\ncache path vs PNG path: {ratio:.1f}x (goal >= 20x); with the CPU recipe on both: "
        f"{rows['cache_cpu_aug'].median / rows['png_cpu_aug'].median:.1f}x; building the "
        f"cache: {build_rate:.0f} samples/s"
    )
    if args.json:
        emit(
            {
                "png": rows["png"].median,
                "cache": rows["cache"].median,
                "decode_limit": limit,
                "cache_over_png": ratio,
                "png_cpu_aug": rows["png_cpu_aug"].median,
                "cache_cpu_aug": rows["cache_cpu_aug"].median,
                "build": build_rate,
                "rows": rows,
                "n": n,
                "size": size,
                "batch": args.batch,
                "cores": workers,
            },
            default=str,
        )
    if not args.data:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
