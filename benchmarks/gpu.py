"""Training speed on an accelerator, in one run of at most about 8 minutes.

    python benchmarks/gpu.py [--models gapnet gapnet_pl densenet121] [--size 512]
                             [--batch 32] [--budget 400] [--json] [--tiny]

For each model at --size: training img/s fed from memory (one uint8 batch held on the
device) and from the uint8 cache through tf.data, with the augmentation recipe on the
device, in float32, mixed_bfloat16 and mixed_float16, with XLA off and on; the peak device
memory of each; prediction img/s; the largest batch that fits (doubling from --batch
until the device runs out of memory, mixed_bfloat16, XLA off); and the projected time of
gapnet's default recipe (seed 002's: 3 folds x 50 epochs; each fold trains on 90 % of
its 2/3 of 31,072 samples, predicts the other 10 % after every epoch and its held-out
third at the end) at the fastest cache-fed setting of each model.

Cells run in that order while the next one (expected to take as long as the last) fits in
--budget seconds; the rest are reported as skipped. Without a GPU (or with --tiny) it runs a
tiny form on the CPU (64 px, batch 4, float32, XLA off, short windows) that exercises every
part; tests run that form.
"""

import argparse
import os
import sys
import tempfile
import time

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
    from gapnet.data.augment import AugmentRecipe
    from gapnet.data.pipeline import make_dataset
    from gapnet.data.source import open_source
    from gapnet.data.synthetic.generate import write_dataset
    from gapnet.models.device_augment import device_augment


HPA_TRAIN = 31072  # Kaggle 2018 training samples
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def peak_bytes(reset: bool = False):
    """Peak device memory since the last reset (None on the CPU)."""
    if not tf.config.list_physical_devices("GPU"):
        return None
    if reset:
        tf.config.experimental.reset_memory_stats("GPU:0")
        return None
    return tf.config.experimental.get_memory_info("GPU:0")["peak"]


def build(name, size, precision, xla, batch=None):
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    model = models.build(
        name, (size, size, 4), 28, preprocess=[device_augment(AugmentRecipe(), seed=0)]
    )
    opt = keras.optimizers.Adam(1e-3)
    if precision == "mixed_float16":
        opt = keras.mixed_precision.LossScaleOptimizer(opt)
    model.compile(opt, "binary_crossentropy", jit_compile=xla)
    return model


def largest_batch(name, size, start, cap, deadline):
    """The largest power-of-two multiple of `start` that trains a step without running out
    of device memory (mixed_bfloat16, XLA off), and that step's peak memory."""
    fits, peak, batch = None, None, start
    while batch <= cap and time.perf_counter() < deadline:
        try:
            model = build(name, size, "mixed_bfloat16", False)
            x = tf.zeros((batch, size, size, 4), tf.uint8)
            y = tf.zeros((batch, 28))
            peak_bytes(reset=True)
            model.train_on_batch(x, y)
            model.train_on_batch(x, y)
            fits, peak = batch, peak_bytes()
        except (tf.errors.ResourceExhaustedError, tf.errors.InternalError, MemoryError):
            break
        finally:
            keras.backend.clear_session()
        batch *= 2
    return fits, peak


def run_cell(key, args, memory, stream, x) -> dict:
    """One model/precision/XLA setting: training fed from memory and from the cache, its
    peak device memory, and prediction."""
    model = build(key["model"], args.size, key["precision"], key["xla"])
    peak_bytes(reset=True)
    cell = dict(key)
    for feed, data in (("memory", memory), ("cache", stream)):
        cell[feed] = measure(trainer(model, data), args.seconds, args.repeats, warmup=args.seconds)
    cell["peak_bytes"] = peak_bytes()
    cell["predict"] = measure(
        lambda: int(model.predict_on_batch(x).shape[0]), args.seconds, args.repeats
    )
    return cell


@json_main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["gapnet", "gapnet_pl", "densenet121"])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--samples", type=int, default=256, help="synthetic samples in the cache")
    p.add_argument("--seconds", type=float, default=1.5, help="least seconds per window")
    p.add_argument("--repeats", type=int, default=3, help="windows per cell (median)")
    p.add_argument(
        "--budget",
        type=float,
        default=400,
        help="seconds for the timed cells (default 400; the batch search gets 45 "
        "more, data and start-up about 30: about 8 minutes in all)",
    )
    p.add_argument("--max-batch", type=int, default=4096)
    p.add_argument("--tiny", action="store_true", help="the CPU form (default without a GPU)")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = p.parse_args(argv)
    load()  # after parsing: --help never waits for TensorFlow
    gpu = bool(tf.config.list_physical_devices("GPU"))
    tiny = args.tiny or not gpu
    precisions, xlas = (PRECISIONS, (False, True)) if not tiny else (("float32",), (False,))
    if tiny:
        args.size, args.batch, args.samples = 64, 4, 16
        args.seconds, args.repeats, args.max_batch = 0.2, 2, 8
    t0 = time.perf_counter()
    deadline = t0 + args.budget
    device = (
        tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0]).get(
            "device_name", "GPU"
        )
        if gpu
        else f"CPU ({os.cpu_count()} cores)"
    )
    cells, skipped, failed, batches_fit = [], [], [], {}
    last = 0.0  # seconds the previous cell took
    with tempfile.TemporaryDirectory() as tmp:
        root = write_dataset(
            os.path.join(tmp, "syn"),
            args.samples,
            args.size,
            seed=0,
            workers=os.cpu_count(),
            progress=False,
        )
        cache.build(root, args.size, progress=False, log=lambda *a: None)
        src = open_source(root)
        reader = cache_reader.CacheReader(cache.cache_dir(root, "train", args.size), src.labels.ids)
        stream = make_dataset(
            reader, src.labels.targets, args.batch, training=True, seed=0, epochs=(0, 10**6)
        )
        x, y = next(iter(stream))
        memory = tf.data.Dataset.from_tensors((x, y)).repeat()
        for name in args.models:
            for precision in precisions:
                for xla in xlas:
                    key = dict(model=name, precision=precision, xla=xla)
                    if time.perf_counter() + last > deadline:  # would overrun the budget
                        skipped.append(key)
                        continue
                    started = time.perf_counter()
                    try:
                        cell = run_cell(key, args, memory, stream, x)
                    except Exception as e:  # noqa: BLE001 - e.g. an op XLA cannot compile
                        print(
                            f"{name} {precision} xla={xla}: failed: {type(e).__name__}: "
                            f"{str(e)[:300]}",
                            flush=True,
                        )
                        failed.append({**key, "error": f"{type(e).__name__}: {str(e)[:300]}"})
                        continue
                    finally:
                        keras.backend.clear_session()
                        last = time.perf_counter() - started
                    cells.append(cell)
                    print(
                        f"{name} {precision} xla={xla}: memory {cell['memory'].cell()}, "
                        f"cache {cell['cache'].cell()} img/s",
                        flush=True,
                    )
        for name in args.models:
            batches_fit[name] = largest_batch(
                name, args.size, args.batch, args.max_batch, deadline + 45
            )
    keras.mixed_precision.set_global_policy("float32")
    elapsed = time.perf_counter() - t0
    gib = lambda b: "" if b is None else f"{b / 2**30:.1f}"  # noqa: E731
    print(
        f"\n{device}; {args.size} px, batch {args.batch}{' (tiny CPU form)' if tiny else ''}; "
        f"img/s, median of {args.repeats} windows of >= {args.seconds:g} s; {elapsed:.0f} s"
    )
    print(
        "| model | precision | XLA | memory-fed | cache-fed | cache/memory | predict | peak GiB |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for c in cells:
        print(
            f"| {c['model']} | {c['precision']} | {'on' if c['xla'] else 'off'} | "
            f"{c['memory'].cell()} | {c['cache'].cell()} | "
            f"{c['cache'].median / c['memory'].median:.2f} | {c['predict'].median:,.0f} | "
            f"{gib(c['peak_bytes'])} |"
        )
    for k in skipped + failed:
        why = f"failed: {k['error'][:60]}" if "error" in k else "skipped (budget)"
        print(
            f"| {k['model']} | {k['precision']} | {'on' if k['xla'] else 'off'} | {why} | | | | |"
        )
    projection = {}
    n_train = HPA_TRAIN * 2 // 3
    n_held = HPA_TRAIN - n_train
    print(
        "\n| model | largest batch | its peak GiB | fastest cache-fed setting | projected "
        "3-fold x 50-epoch run at 512 px |\n|---|---:|---:|---|---:|"
    )
    for name in args.models:
        mine = [c for c in cells if c["model"] == name]
        fits, peak = batches_fit[name]
        if not mine:
            continue
        best = max(mine, key=lambda c: c["cache"].median)
        rate, pred = best["cache"].median, best["predict"].median
        fit_n, select_n = n_train * 9 // 10, n_train - n_train * 9 // 10
        hours = 3 * (50 * (fit_n / rate + select_n / pred) + n_held / pred) / 3600
        projection[name] = dict(
            hours=hours,
            precision=best["precision"],
            xla=best["xla"],
            img_per_s=rate,
            predict_img_per_s=pred,
            largest_batch=fits,
            largest_batch_peak=peak,
        )
        print(
            f"| {name} | {fits} | {gib(peak)} | {best['precision']}, XLA "
            f"{'on' if best['xla'] else 'off'} ({rate:,.0f} img/s) | {hours:.1f} h |"
        )
    print(
        "(projection: the cache-fed training and the prediction rates measured here, at "
        "this size and batch; the tiny form's figures are no guide)"
    )
    if args.json:
        emit(
            {
                "device": device,
                "tiny": tiny,
                "size": args.size,
                "batch": args.batch,
                "seconds": elapsed,
                "cells": cells,
                "skipped": skipped,
                "failed": failed,
                "projection": projection,
            },
            default=str,
        )


if __name__ == "__main__":
    main()
