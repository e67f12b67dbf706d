"""Decodes a dataset split once into one uint8 array file (the cache) that training reads instead.

    python data_prep/build_cache.py ROOT --size 512 [--split train|test] [--workers N]
                                    [--channels green,blue | --channel-map GFP=green,DNA=blue]

Writes ROOT/.gapnet-cache/<split>-<size>/. run_kfold.py and predict.py then read it
automatically (config key `cache`: auto, off, require) and say so in their log.
A run on its own channel set (config `channels` or `channel_map`) reads a cache of those
channels: give the same --channels or --channel-map here (ROOT/.gapnet-cache/
<split>-<size>-<file names>/, e.g. train-512-GFP-DNA). A killed
build continues where it stopped; a build over an unchanged dataset does nothing.
"""

import argparse
import os
import sys

from gapnet.data.cache import build
from gapnet.data.images import ImageError
from gapnet.data.labels import DataError
from gapnet.io import DiskSpaceError
from gapnet.quiet import quiet_tensorflow


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", help="dataset folder in the Kaggle layout")
    p.add_argument("--size", type=int, required=True, help="image size to cache (e.g. 512)")
    p.add_argument("--split", default="train", choices=["train", "test"])
    p.add_argument(
        "--workers", type=int, default=None, help="decoding threads (default: all cores)"
    )
    p.add_argument(
        "--channels",
        help="the roles to cache, e.g. green,blue (as config channels; default: all four)",
    )
    p.add_argument(
        "--channel-map",
        dest="channel_map",
        help="your file channel names -> roles, e.g. GFP=green,DNA=blue (files "
        "<Id>_GFP.png; as config channel_map)",
    )
    args = p.parse_args(argv)
    from gapnet.channels import CHANNELS, make_channel_set, parse_channel_map

    try:
        given = parse_channel_map(args.channel_map) if args.channel_map else None
        cs = make_channel_set(args.channels or CHANNELS, given)
    except ValueError as e:
        p.error(f"--channels / --channel-map: {e}")
    quiet_tensorflow()  # after parsing: --help never waits for TensorFlow
    try:
        build(args.root, args.size, args.split, args.workers, progress=True, channels=cs)
    except (DataError, ImageError, DiskSpaceError) as e:
        kept = "\n(rows already cached are kept; fix the file and run again)"
        print(f"error: {e}" + (kept if os.path.isdir(args.root) else ""), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
