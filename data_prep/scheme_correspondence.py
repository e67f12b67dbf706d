"""Measures how the HPA 2018 classes became the HPA 2021 ones, on the Ids both label files
share, and checks gapnet's mapping (`gapnet.schemes.HPA2018_TO_HPA2021`) against it.

    python data_prep/scheme_correspondence.py --hpa2018 train.csv --hpa2021 train2021.csv
                                              [--out gapnet/resources/hpa2018_to_hpa2021.csv]

For each 2018 class: its images among the shared Ids, the 2021 class gapnet maps it to,
the share of its images whose 2021 labels hold that class, the same on its single-label
images (whose other labels cannot explain the 2021 label), and the three 2021 classes its
images carry most. Then the share of shared images whose 2021 labels `to_hpa2021` of the
2018 labels reproduces exactly. Labels repeated within a 2021 row (146 rows of the
official file, e.g. `13|13`) count once.
"""

import argparse
import collections
import csv
import sys

from gapnet.data.labels import DataError, read_labels
from gapnet.schemes import HPA2018_TO_HPA2021, HPA2021_NAMES, SCHEMES, to_hpa2021

FIELDS = (
    "hpa2018",
    "name2018",
    "hpa2021",
    "name2021",
    "images",
    "share",
    "single_label_images",
    "single_label_share",
    "most_carried",
)


def correspondence(t2018, t2021) -> tuple[list[dict], float]:
    """(one row per 2018 class, share of images reproduced exactly) from the aligned
    multi-hot tables of the shared Ids. Pure."""
    rows = []
    for k, name in enumerate(SCHEMES["hpa2018"].classes):
        has = t2018[:, k] > 0
        single = has & (t2018.sum(1) == 1)
        j = HPA2018_TO_HPA2021[k]
        counts = collections.Counter()
        for row in t2021[has]:
            counts.update(int(c) for c in row.nonzero()[0])
        n, n1 = int(has.sum()), int(single.sum())
        rows.append(
            {
                "hpa2018": k,
                "name2018": name,
                "hpa2021": "" if j is None else j,
                "name2021": "" if j is None else HPA2021_NAMES[j],
                "images": n,
                "share": "" if j is None or not n else round(float(t2021[has, j].mean()), 3),
                "single_label_images": n1,
                "single_label_share": ""
                if j is None or not n1
                else round(float(t2021[single, j].mean()), 3),
                "most_carried": " ".join(
                    f"{c}:{m / max(n, 1):.2f}" for c, m in counts.most_common(3)
                ),
            }
        )
    exact = float((to_hpa2021(t2018) == (t2021 > 0)).all(1).mean())
    return rows, exact


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hpa2018", required=True, help="the Kaggle 2018 train.csv (Id,Target)")
    p.add_argument("--hpa2021", required=True, help="the Kaggle 2021 train.csv (ID,Label)")
    p.add_argument("--out", help="write the table here as CSV")
    args = p.parse_args(argv)
    try:
        a = read_labels(args.hpa2018)
        b = read_labels(args.hpa2021, scheme="hpa2021")
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    index = {i: n for n, i in enumerate(a.ids)}
    shared = [n for n, i in enumerate(b.ids) if i in index]
    t2018 = a.targets[[index[b.ids[n]] for n in shared]]
    rows, exact = correspondence(t2018, b.targets[shared])
    print(f"{len(shared)} shared Ids ({len(b)} in the 2021 file, {len(a)} in the 2018 one)")
    print("| 2018 class | 2021 class | images | share | single-label | share | most carried |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['hpa2018']} {r['name2018']} | {r['hpa2021']} {r['name2021'] or '(none)'} | "
            f"{r['images']} | {r['share']} | {r['single_label_images']} | "
            f"{r['single_label_share']} | {r['most_carried']} |"
        )
    print(f"2021 labels reproduced exactly from the 2018 ones: {exact:.3f} of the shared images")
    if args.out:
        with open(args.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(FIELDS), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
