"""The stages of benchmarks/scale.py that are library calls rather than gapnet's scripts,
each run in its own process (so that its peak RSS is its own) and printing one JSON line.

    python benchmarks/scale_stages.py folds ROOT
    python benchmarks/scale_stages.py epoch ROOT [--batch 32]
    python benchmarks/scale_stages.py train ROOT [--batch 16] [--seconds 5] [--repeats 3]
    python benchmarks/scale_stages.py fake-run ROOT RUN [--folds 3]

folds: `gapnet.cv.folds.make_folds` (iterative stratification, 3 folds) on ROOT's labels.
epoch: one full epoch of the training input pipeline (`gapnet.data.pipeline.make_dataset`,
training's shuffled order, no CPU augmentation: the cache path augments on the device)
from ROOT's 512-px uint8 cache; samples/s.
train: GapNet-PL at 512 px with device augmentation (`benchmarks/train_speed.py`'s recipe),
img/s fed from the cache in shuffled order and, as the ceiling, from one batch held in
memory (benchmarks/common.py windows).
fake-run: a finished run folder for ROOT whose fold predictions are synthetic (noisy
functions of the labels) and whose models are absent, for timing the OOF evaluation
(`run_kfold.py --merge`) and the report on n x 28 predictions. Not a trained model.
"""

import argparse
import json
import os
import sys
import time

from gapnet.quiet import quiet_tensorflow  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from gapnet.data.source import open_source  # noqa: E402


def folds(args) -> dict:
    from gapnet.cv.folds import make_folds

    targets = open_source(args.root).labels.targets
    t0 = time.perf_counter()
    f = make_folds(targets, 3, 0)
    return {"seconds_in_call": time.perf_counter() - t0, "fold_sizes": np.bincount(f).tolist()}


def _cached(root):
    from gapnet.data import cache, cache_reader

    src = open_source(root)
    reader = cache_reader.CacheReader(cache.cache_dir(root, "train", 512), src.labels.ids)
    return reader, src.labels.targets


def epoch(args) -> dict:
    from gapnet.data.pipeline import make_dataset

    reader, targets = _cached(args.root)
    ds = make_dataset(reader, targets, args.batch, training=True, seed=0, epochs=(0, 1))
    steps = -(-len(reader) // args.batch)
    t0, n = time.perf_counter(), 0
    for x, _ in ds.take(steps):
        n += int(x.shape[0])
    seconds = time.perf_counter() - t0
    return {"samples": n, "seconds_in_call": seconds, "samples_per_s": n / seconds}


def train(args) -> dict:
    import tensorflow as tf

    from benchmarks.common import measure, trainer
    from benchmarks.train_speed import build, load
    from gapnet.data.pipeline import make_dataset

    load()  # train_speed's TensorFlow imports (its main() makes them)
    reader, targets = _cached(args.root)
    stream = make_dataset(reader, targets, args.batch, training=True, seed=0, epochs=(0, 10**6))
    out = {}
    for name in ("cache", "memory"):
        model = build("gapnet_pl", 512, device_aug=True)
        data = stream
        if name == "memory":
            x, y = next(iter(stream))
            data = tf.data.Dataset.from_tensors((x, y)).repeat()
        rate = measure(trainer(model, data), args.seconds, args.repeats)
        out[name] = {"median": rate.median, "low": rate.low, "high": rate.high}
    out["cache_over_memory"] = out["cache"]["median"] / out["memory"]["median"]
    return out


def fake_run(args) -> dict:
    from gapnet.config import Config
    from gapnet.cv.folds import make_folds
    from gapnet.cv.runfolder import fold_dir, mark_done, write_folds, write_predictions
    from gapnet.io import atomic_write_json

    src = open_source(args.root)
    ids, targets = list(src.labels.ids), src.labels.targets
    f = make_folds(targets, args.folds, 0)
    rng = np.random.default_rng(0)
    logits = 2.5 * (2 * targets - 1) + rng.normal(0, 1.5, targets.shape) - 1.0
    probs = (1 / (1 + np.exp(-logits))).astype(np.float32)
    os.makedirs(args.run, exist_ok=True)
    cfg = Config(data=os.path.abspath(args.root), model="gapnet_pl", image_size=512)
    atomic_write_json(os.path.join(args.run, "config.json"), cfg.to_dict())
    write_folds(os.path.join(args.run, "folds.csv"), ids, f)
    for k in range(args.folds):
        path = fold_dir(args.run, k)
        os.makedirs(path, exist_ok=True)
        rows = np.flatnonzero(f == k)
        write_predictions(
            os.path.join(path, "val_predictions.csv"), [ids[i] for i in rows], probs[rows]
        )
        mark_done(path, ["val_predictions.csv"], k, seconds=0.0)
    return {"samples": len(ids)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stage", choices=["folds", "epoch", "train", "fake-run"])
    p.add_argument("root")
    p.add_argument("run", nargs="?")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--folds", type=int, default=3)
    args = p.parse_args(argv)
    quiet_tensorflow()  # after parsing: --help never waits for TensorFlow
    stage = {"folds": folds, "epoch": epoch, "train": train, "fake-run": fake_run}[args.stage]
    if args.batch is None:
        args.batch = 16 if args.stage == "train" else 32
    print(json.dumps(stage(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
