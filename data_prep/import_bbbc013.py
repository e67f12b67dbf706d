"""The BBBC013 single-cell crops (FKHR-GFP + DNA, wells A01 and A12) as a gapnet dataset.

    python data_prep/import_bbbc013.py SRC OUT [--holdout 0.2]

SRC: the folder of `labels.csv` and `crops/<well>_Cell<n>_ch1.png` (GFP) / `_ch2.png` (DNA)
(its SOURCES.md says where they come from: CC BY 3.0, Ljosa et al. 2012). OUT gets
`train.csv`, `classes.csv` (0 cytoplasmic = well A01, the negative control; 1 nuclear =
well A12, the positive control), `train/<Id>_GFP.png` and `<Id>_DNA.png`, and a hold-out
set never used for tuning: a fixed SHA-256-hashed `--holdout` share of the cells of each
well (`holdout/`, `holdout.csv` with the well and hand label). Cells hand-labelled NoGFP
(no GFP, so no localization to see) are left out of both (`excluded.csv`); the unlabelled
cells keep their well's label. Train with:

    python experiments/run_kfold.py --data OUT --channel-map GFP=green,DNA=blue --image-size 48
"""

import argparse
import csv
import os
import sys

from gapnet.data.crops import write_dataset

WELL_CLASS = {"A01": 0, "A12": 1}
CLASSES = ("cytoplasmic", "nuclear")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="folder with labels.csv and crops/")
    p.add_argument("out", help="gapnet dataset folder to write")
    p.add_argument("--holdout", type=float, default=0.2, help="hashed hold-out share (0.2)")
    args = p.parse_args(argv)
    path = os.path.join(args.src, "labels.csv")
    if not os.path.isfile(path):
        print(f"error: {path}: missing (expected the BBBC013 crops folder)", file=sys.stderr)
        return 1
    samples = []
    with open(path, encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            if row.get("well") not in WELL_CLASS:
                print(
                    f"error: {path}:{line}: well {row.get('well')!r} is not A01 or A12",
                    file=sys.stderr,
                )
                return 1
            cls = None if row["manual_label"] == "NoGFP" else WELL_CLASS[row["well"]]
            files = {
                "GFP": os.path.join(args.src, row["ch1_file"]),
                "DNA": os.path.join(args.src, row["ch2_file"]),
            }
            extra = {"well": row["well"], "manual_label": row["manual_label"]}
            samples.append((row["crop"], cls, files, extra))
    counts = write_dataset(args.out, samples, CLASSES, args.holdout)
    print(f"{args.out}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
