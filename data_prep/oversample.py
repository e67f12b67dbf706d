"""Seed 002's oversampling of rare labels: augmented copies until every label has enough.

    python data_prep/oversample.py ROOT --out OUT [--min-count 500] [--seed 0]

Writes OUT in the Kaggle layout: the originals (linked) plus `<Id>_os<j>` copies (the
source's channels rotated by 90 degrees and/or flipped) until every label occurs at least
--min-count times, and OUT/train.csv with a Source column naming each copy's original.
run_kfold.py --data OUT then keeps every copy in its source's fold. Without files, the same
plan as sampling weights: run_kfold.py --set oversample_min_count=500.
"""

import argparse
import sys

from gapnet.data.labels import DataError
from gapnet.data.oversample import write_oversampled


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", help="dataset folder in the Kaggle PNG layout")
    p.add_argument("--out", required=True, help="new dataset folder to write")
    p.add_argument(
        "--min-count",
        type=int,
        default=500,
        dest="min_count",
        help="occurrences every label reaches (default 500, seed 002)",
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        write_oversampled(args.root, args.out, args.min_count, args.seed, progress=True)
    except (DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
