"""Training throughput (img/s) by input path, side by side in one run.

    python benchmarks/train_speed.py [--rows gapnet_pl:256:float32 ...] [--batch 20]
                                     [--seconds 3] [--repeats 5] [--json]

For each row (model:size:precision; default: the three that were input-bound, GapNet-PL
at 256 px in float32 and mixed_bfloat16 and GapNet at 512 px in mixed_bfloat16), the same
model and augmentation recipe trained (`train_on_batch` on one persistent stream) with
its batches:

- memory: one uint8 batch held as a tensor, augmentation on the device (the ceiling);
- cache: from the uint8 cache (`data_prep/build_cache.py`), augmentation on the device;
- cache + CPU aug: from the cache, the CPU (OpenCV + NumPy) recipe in tf.data instead;
- PNG: decoding the PNG files, augmentation on the device;
- PNG + CPU aug: decoding the PNGs with the CPU recipe (gapnet 0.2's path).

Each cell is the median of --repeats windows of at least --seconds (benchmarks/common.py).
The data are 80 synthetic samples written at the row's size. The ratio cache/memory says
whether the input keeps up with the model (goal >= 0.9).
"""

import argparse
import os
import sys
import tempfile

from gapnet.jsonout import emit, json_main  # noqa: E402
from gapnet.quiet import quiet_tensorflow  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load() -> None:
    """TensorFlow, Keras and the gapnet modules that load them: imported by main() after
    argparse (--help never waits for them), and by a caller of this module's functions."""
    global \
        keras, \
        tf, \
        measure, \
        trainer, \
        models, \
        cache, \
        cache_reader, \
        AugmentRecipe, \
        CpuAugmenter, \
        PngReader, \
        make_dataset, \
        open_source, \
        write_dataset, \
        device_augment
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    from benchmarks.common import measure, trainer
    from gapnet import models
    from gapnet.data import cache, cache_reader
    from gapnet.data.augment import AugmentRecipe, CpuAugmenter
    from gapnet.data.pipeline import PngReader, make_dataset
    from gapnet.data.source import open_source
    from gapnet.data.synthetic.generate import write_dataset
    from gapnet.models.device_augment import device_augment


DEFAULT_ROWS = [
    "gapnet_pl:256:float32",
    "gapnet_pl:256:mixed_bfloat16",
    "gapnet:512:mixed_bfloat16",
]
COLUMNS = ("memory", "cache", "cache_cpu_aug", "png", "png_cpu_aug")


def build(name, size, device_aug: bool):
    keras.utils.set_random_seed(0)
    pre = [device_augment(AugmentRecipe(), seed=0)] if device_aug else []
    model = models.build(name, (size, size, 4), 28, preprocess=pre)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    return model


@json_main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", nargs="+", default=DEFAULT_ROWS, metavar="MODEL:SIZE:PRECISION")
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--seconds", type=float, default=3.0, help="least seconds per window")
    p.add_argument("--repeats", type=int, default=5, help="timed windows per cell (median)")
    p.add_argument("--columns", nargs="+", default=list(COLUMNS), choices=COLUMNS)
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = p.parse_args(argv)
    load()  # after parsing: --help never waits for TensorFlow
    results, roots = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for row in args.rows:
            name, size, precision = row.split(":")
            size = int(size)
            if size not in roots:
                roots[size] = write_dataset(
                    os.path.join(tmp, str(size)), args.batch * 4, size, seed=0, progress=False
                )
                cache.build(roots[size], size, progress=False, log=lambda *a: None)
            src = open_source(roots[size])
            ids, targets = src.labels.ids, src.labels.targets
            png = PngReader(src.image_dir, src.ext, ids, size)
            cached = cache_reader.CacheReader(cache.cache_dir(roots[size], "train", size), ids)
            keras.mixed_precision.set_global_policy(precision)

            def stream(reader, cpu_aug=False, targets=targets):
                aug = CpuAugmenter(AugmentRecipe()) if cpu_aug else None
                return make_dataset(
                    reader,
                    targets,
                    args.batch,
                    training=True,
                    seed=0,
                    augmenter=aug,
                    epochs=(0, 10**6),
                )

            out = {"model": name, "size": size, "precision": precision}
            for col in args.columns:
                model = build(name, size, device_aug=not col.endswith("cpu_aug"))
                if col == "memory":
                    x, y = next(iter(stream(cached)))
                    data = tf.data.Dataset.from_tensors((x, y)).repeat()
                else:
                    data = stream(
                        cached if col.startswith("cache") else png, col.endswith("cpu_aug")
                    )
                out[col] = measure(trainer(model, data), args.seconds, args.repeats)
                print(f"{row} {col}: {out[col].cell()} img/s", flush=True)
            results.append(out)
    keras.mixed_precision.set_global_policy("float32")
    print(
        f"\n{os.cpu_count()} CPU cores, batch {args.batch}; img/s, median of {args.repeats} "
        f"windows of >= {args.seconds:g} s (lowest-highest)"
    )
    print("| model | size | precision | " + " | ".join(args.columns) + " | cache/memory |")
    print("|---|---:|---|" + "---:|" * (len(args.columns) + 1))
    for r in results:
        ratio = (
            f"{r['cache'].median / r['memory'].median:.2f}"
            if "cache" in r and "memory" in r
            else ""
        )
        print(
            f"| {r['model']} | {r['size']} | {r['precision']} | "
            + " | ".join(r[c].cell() for c in args.columns)
            + f" | {ratio} |"
        )
    if args.json:
        emit(
            {
                "rows": [
                    {
                        **{k: (v.median if hasattr(v, "median") else v) for k, v in r.items()},
                        "spread": {c: r[c] for c in args.columns},
                    }
                    for r in results
                ],
                "batch": args.batch,
                "cores": os.cpu_count(),
            },
            default=str,
        )


if __name__ == "__main__":
    main()
