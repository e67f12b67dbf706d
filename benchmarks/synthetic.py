"""Synthetic atlas: generation speed, and per-channel intensity beside real PNGs.

    python benchmarks/synthetic.py [--n 300] [--size 512] [--real DIR]

Times `write_dataset` for N samples with one worker and with all cores (same run, so the
ratio is fair) and prints samples/s and the time 1,000 samples would take (goal: <= 60 s
at 512 px). Then prints each channel's mean and 99th percentile (averaged over images,
0..255) for 80 synthetic samples, beside those of the real Kaggle PNGs in DIR
(`<Id>_<color>.png` files) when --real is given.
"""

import argparse
import glob
import os
import sys
import tempfile
import time

import numpy as np

from gapnet.classes import CHANNELS
from gapnet.data.images import read_channel
from gapnet.data.synthetic.generate import write_dataset


def intensity(images) -> tuple[float, float]:
    """Mean over images of each image's mean and of its 99th percentile."""
    return (
        float(np.mean([im.mean() for im in images])),
        float(np.mean([np.percentile(im, 99) for im in images])),
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=300, help="samples to time (default 300)")
    p.add_argument("--size", type=int, default=512, help="side in pixels (default 512)")
    p.add_argument("--real", metavar="DIR", help="folder of real Kaggle PNGs to compare with")
    args = p.parse_args(argv)

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        rates = {}
        for workers in sorted({1, cores}):
            t = time.perf_counter()
            write_dataset(
                os.path.join(tmp, f"w{workers}"),
                args.n,
                args.size,
                seed=0,
                workers=workers,
                progress=False,
            )
            rates[workers] = args.n / (time.perf_counter() - t)
        print(f"generation at {args.size}px, {args.n} samples:")
        for workers, rate in rates.items():
            print(
                f"  {workers} worker(s): {rate:.1f} samples/s ({rate / rates[1]:.2f}x); "
                f"1,000 samples in {1000 / rate:.0f} s"
            )

        root = write_dataset(os.path.join(tmp, "stats"), 80, args.size, seed=5, progress=False)
        print(
            "\nchannel: synthetic mean / p99 (80 samples)"
            + ("  |  real mean / p99" if args.real else "")
        )
        for color in CHANNELS:
            synth = [
                read_channel(f, color)
                for f in glob.glob(os.path.join(root, "train", f"*_{color}.png"))
            ]
            line = "  {:7s} {:6.1f} / {:5.0f}".format(color, *intensity(synth))
            if args.real:
                files = sorted(glob.glob(os.path.join(args.real, f"*_{color}.png")))
                if files:
                    real = [read_channel(f, color) for f in files]
                    line += "  |  {:6.1f} / {:5.0f} ({} files)".format(*intensity(real), len(files))
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
