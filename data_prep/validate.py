"""Checks an HPA dataset folder before training: every CSV row and every image file.

Prints one line per error naming the file or CSV row, the notes (unusual but valid input,
e.g. 16-bit or RGB files: not errors) one line per kind with a count and the first files,
then a summary. Exit status: 1 if there is any error, 0 otherwise.

    python data_prep/validate.py ROOT [--split train|test] [--size 512] [--workers N]
"""

import argparse
import sys

from gapnet.data.labels import DataError
from gapnet.data.validate import summarize_notes, validate


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
    notes = p.add_mutually_exclusive_group()
    notes.add_argument("--quiet-notes", action="store_true", help="do not print notes")
    notes.add_argument(
        "--all-notes",
        action="store_true",
        help="print every note (default: one line per kind of note, with its count and "
        "first 3 files; a 2021-size set has one note per channel file)",
    )
    args = p.parse_args(argv)
    try:
        report = validate(args.root, args.split, args.size, args.workers, progress=True)
    except DataError as e:
        print(f"ERROR {e}")
        return 1
    for problem in report.errors:
        print(problem)
    if args.all_notes:
        for problem in report.notes:
            print(problem)
    elif not args.quiet_notes:
        for line in summarize_notes(report.notes):
            print(line)
    print(report.summary())
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
