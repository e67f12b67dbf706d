"""Multilabel-stratified splits of a dataset: train/val/test and/or K-fold assignment.

    python data_prep/split.py ROOT [--val 0.1 --test 0.1] [--folds K] [--seed 0] [--out DIR]

Writes DIR/split.csv (`Id,split` with train/val/test: seed 000's 80/10/10 by default) and,
with --folds, DIR/folds.csv (`Id,fold`), which `run_kfold.py --folds-file` reuses. Both use
iterative stratification, so every label's examples spread evenly; augmented copies (a
Source column) stay with their original. DIR defaults to ROOT.
"""

import argparse
import os
import sys

from gapnet.cv.folds import make_folds, make_split
from gapnet.cv.runfolder import write_folds
from gapnet.data.labels import DataError, read_labels
from gapnet.io import atomic_write_text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", help="dataset folder with train.csv")
    p.add_argument("--val", type=float, default=0.1, help="validation share (default 0.1)")
    p.add_argument("--test", type=float, default=0.1, help="test share (default 0.1)")
    p.add_argument("--folds", type=int, help="also write folds.csv with K folds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder (default ROOT)")
    args = p.parse_args(argv)
    if not (0 <= args.val < 1 and 0 <= args.test < 1 and args.val + args.test < 1):
        p.error("--val and --test must be shares in [0, 1) summing to less than 1")
    out = args.out or args.root
    try:
        table = read_labels(os.path.join(args.root, "train.csv"))
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    split = make_split(table.targets, args.val, args.test, args.seed, table.groups)
    atomic_write_text(
        os.path.join(out, "split.csv"),
        "Id,split\n" + "".join(f"{i},{s}\n" for i, s in zip(table.ids, split, strict=True)),
    )
    counts = {s: int((split == s).sum()) for s in ("train", "val", "test")}
    print(f"{os.path.join(out, 'split.csv')}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if args.folds:
        folds = make_folds(table.targets, args.folds, args.seed, table.groups)
        write_folds(os.path.join(out, "folds.csv"), table.ids, folds)
        print(
            f"{os.path.join(out, 'folds.csv')}: {args.folds} folds of "
            + ", ".join(str(int((folds == k).sum())) for k in range(args.folds))
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
