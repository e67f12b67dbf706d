"""Imports HPAv18 external JPG samples into a Kaggle-layout dataset at 512 px.

    python data_prep/import_external.py SRC ROOT --labels HPAv18RBGY_wodpl.csv [--size 512]

SRC holds `<id>_<color>.jpg` (2048 or 1728 px RGB). Each channel becomes an 8-bit
grayscale PNG of its own plane (red R, green G, blue B, yellow mean(R, G)) in ROOT/train/,
and the labels are appended to ROOT/train.csv. Samples already in ROOT, Ids repeated in
the label file, incomplete file sets, corrupt files, exact duplicate images and file sets
with no label row are skipped and listed in ROOT/import_report.txt; labelled Ids with no
file in SRC are only counted. A rerun continues where it stopped.
"""

import argparse
import sys

from gapnet.data.external import import_external
from gapnet.data.labels import DataError
from gapnet.io import DiskSpaceError
from gapnet.quiet import quiet_tensorflow


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="folder of HPAv18 <id>_<color>.jpg files")
    p.add_argument("root", help="Kaggle-layout dataset to add them to (created if absent)")
    p.add_argument("--labels", required=True, help="HPAv18 label CSV (Id,Target)")
    p.add_argument("--size", type=int, default=512, help="output size (default 512)")
    p.add_argument("--workers", type=int, default=None, help="threads (default: all cores)")
    args = p.parse_args(argv)
    quiet_tensorflow()  # after parsing: --help never waits for TensorFlow
    try:
        import_external(args.src, args.root, args.labels, args.size, args.workers, progress=True)
    except (DataError, DiskSpaceError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
