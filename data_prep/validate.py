"""Checks an HPA dataset folder before training: every CSV row and every image file.

Prints one line per problem naming the file or CSV row, then a summary. Exit status: 1 if
there is any error, 0 otherwise (notes, e.g. 16-bit or RGB files, are not errors).

    python data_prep/validate.py ROOT [--split train|test] [--size 512] [--workers N]
"""

import argparse
import sys

from gapnet.data.labels import DataError
from gapnet.data.validate import validate


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", help="dataset folder in the Kaggle layout (ROOT/train.csv, ROOT/train/)")
    p.add_argument(
        "--split",
        default="train",
        choices=["train", "test"],
        help="train: train.csv + train/; test: sample_submission.csv + test/",
    )
    p.add_argument(
        "--size",
        type=int,
        default=512,
        help="training image size; files of another size get a note (default 512)",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="decoding threads (default: all cores)"
    )
    p.add_argument("--quiet-notes", action="store_true", help="do not print notes")
    args = p.parse_args(argv)
    try:
        report = validate(args.root, args.split, args.size, args.workers, progress=True)
    except DataError as e:
        print(f"ERROR {e}")
        return 1
    for problem in report.problems:
        if problem.severity == "error" or not args.quiet_notes:
            print(problem)
    print(report.summary())
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
