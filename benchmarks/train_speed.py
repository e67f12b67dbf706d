"""Training throughput (img/s), side by side in one run.

    python benchmarks/train_speed.py [--models gapnet gapnet_pl] [--sizes 512 256]
                                     [--precisions float32 mixed_bfloat16] [--steps 6]
                                     [--batch 20] [--memory-only]

For each model, size and precision: `model.fit` fed by the tf.data pipeline (PNG decode +
full CPU augmentation, from a synthetic dataset written at that size) and fed from
memory (one batch held as tensors, repeated), and their ratio. A ratio near 1 means the
input pipeline keeps up with the model; below 1, the input limits training.
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from gapnet import models  # noqa: E402
from gapnet.data.augment import AugmentRecipe, CpuAugmenter  # noqa: E402
from gapnet.data.source import open_source  # noqa: E402
from gapnet.data.pipeline import PngReader, make_dataset  # noqa: E402
from gapnet.data.synthetic.generate import write_dataset  # noqa: E402


def rate(model, ds, steps: int, batch: int) -> float:
    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up
    t = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch / (time.perf_counter() - t)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["gapnet", "gapnet_pl"])
    p.add_argument("--sizes", nargs="+", type=int, default=[512, 256])
    p.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"])
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--memory-only", action="store_true",
                   help="time the model fed from memory only (no pipeline row)")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            root = write_dataset(os.path.join(tmp, str(size)), args.batch * 4, size, seed=0,
                                 progress=False)
            src = open_source(root)
            reader = PngReader(src.image_dir, src.ext, src.labels.ids, size)
            targets = src.labels.targets
            for precision in args.precisions:
                keras.mixed_precision.set_global_policy(precision)
                for name in args.models:
                    keras.utils.set_random_seed(0)
                    model = models.build(name, (size, size, 4), 28)
                    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
                    piped = make_dataset(reader, targets, args.batch, training=True,
                                         augmenter=CpuAugmenter(AugmentRecipe())).repeat()
                    x, y = next(iter(piped))
                    memory = tf.data.Dataset.from_tensors((x, y)).repeat()
                    r_mem = rate(model, memory, args.steps, args.batch)
                    r_pipe = float("nan") if args.memory_only else rate(model, piped, args.steps,
                                                                        args.batch)
                    rows.append((name, size, precision, r_pipe, r_mem))
                    print(f"{name} {size}px {precision}: pipeline {r_pipe:.1f} img/s, "
                          f"memory {r_mem:.1f} img/s", flush=True)
    keras.mixed_precision.set_global_policy("float32")
    print(f"\n{os.cpu_count()} CPU cores, batch {args.batch}, {args.steps} timed steps")
    print("| model | size | precision | pipeline img/s | memory img/s | pipeline/memory |")
    print("|---|---:|---|---:|---:|---:|")
    base = {(m, s): pm for m, s, pr, pp, pm in rows if pr == "float32"}
    for m, s, pr, pp, pm in rows:
        extra = f" ({pm / base[(m, s)]:.2f}x float32)" if pr != "float32" and (m, s) in base else ""
        print(f"| {m} | {s} | {pr} | {pp:.1f} | {pm:.1f}{extra} | {pp / pm:.2f} |")


if __name__ == "__main__":
    main()
