"""Segments nuclei and cells in every sample of a dataset (no download, scikit-image).

    python data_prep/segment.py ROOT --out MASKS [--size 512] [--nucleus-diameter 50]
                                [--body-threshold 0.5] [--split train|test] [--workers N]

Writes MASKS/<Id>_cells.png and MASKS/<Id>_nuclei.png: 16-bit label images at --size, 0 =
background, cell i grown from nucleus i. A killed run continues where it stopped.
`experiments/explain.py --cells MASKS` reads them (and masks from Cellpose or
HPA-Cell-Segmentation saved in the same naming as PNG, NPY or TIFF). Method and its known
failures: docs/localization.md.
"""

import argparse
import sys

from gapnet.data.images import ImageError
from gapnet.data.labels import DataError
from gapnet.data.segment import SegmentParams, segment_folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", help="dataset folder in the Kaggle layout")
    p.add_argument("--out", required=True, help="mask folder (created)")
    p.add_argument("--size", type=int, default=512, help="segment at this size (default 512)")
    p.add_argument(
        "--nucleus-diameter",
        type=float,
        default=SegmentParams.nucleus_diameter,
        help="expected nucleus diameter in pixels at --size (default 50: HPA's "
        "63x fields at 512 px); scale it with magnification and size",
    )
    p.add_argument(
        "--body-threshold",
        type=float,
        default=SegmentParams.body_threshold,
        help="cell-body level as a fraction of the microtubule+ER Otsu threshold",
    )
    p.add_argument("--split", default="train", choices=["train", "test"])
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = p.parse_args(argv)
    params = SegmentParams(args.nucleus_diameter, args.body_threshold)
    try:
        n = segment_folder(
            args.root,
            args.out,
            args.size,
            params,
            args.split,
            args.workers,
            progress=sys.stderr.isatty(),
        )
    except (DataError, ImageError) as e:
        print(
            f"error: {e}\n(samples already segmented are kept; run again to continue)",
            file=sys.stderr,
        )
        return 1
    print(f"segmented {n} samples into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
