"""The folders benchmarks/scale.py measures: an n-sample Kaggle-layout folder built from a
smaller atlas (files copied under new Ids, a test split of hard links), and a folder of the
atlas's first m rows."""

import os
import shutil
import sys

import numpy as np

TEST_PER_TRAIN = 11702 / 31072  # Kaggle's test split beside its training split


def make_folder(base: str, root: str, n: int, images: bool = True) -> int:
    """The n-sample Kaggle folder from the atlas at `base` (see the module docstring);
    returns the test split's size. Without `images`, only the CSVs (and empty folders)."""
    from gapnet.classes import CHANNELS
    from gapnet.data.source import open_source

    src = open_source(base)
    ids, targets = src.labels.ids, src.labels.targets
    n_test = round(n * TEST_PER_TRAIN)
    for split in ("train", "test"):
        os.makedirs(os.path.join(root, split), exist_ok=True)
    rows, test_rows = [], []
    for k in range(n):
        new, old = f"s{k:06d}", ids[k % len(ids)]
        for c in CHANNELS if images else ():
            dst = os.path.join(root, "train", f"{new}_{c}.png")
            if not os.path.exists(dst):
                shutil.copyfile(os.path.join(src.image_dir, f"{old}_{c}.png"), dst)
            if k < n_test:
                link = os.path.join(root, "test", f"t{k:06d}_{c}.png")
                if not os.path.exists(link):
                    os.link(dst, link)
        rows.append(f"{new},{' '.join(map(str, np.flatnonzero(targets[k % len(ids)])))}")
        if k < n_test:
            test_rows.append(f"t{k:06d},0")
    with open(os.path.join(root, "train.csv"), "w") as f:
        f.write("Id,Target\n" + "\n".join(rows) + "\n")
    with open(os.path.join(root, "sample_submission.csv"), "w") as f:
        f.write("Id,Predicted\n" + "\n".join(test_rows) + "\n")
    marker = os.path.join(base, "SYNTHETIC.json")
    if os.path.isfile(marker):
        shutil.copyfile(marker, os.path.join(root, "SYNTHETIC.json"))
    return n_test


def sub_root(base: str, root: str, m: int) -> None:
    """A folder whose train.csv is the atlas's first m rows (images: a link to its train/)."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(base, "train.csv")) as f:
        lines = f.readlines()[: m + 1]
    with open(os.path.join(root, "train.csv"), "w") as f:
        f.writelines(lines)
    if not os.path.exists(os.path.join(root, "train")):
        os.symlink(os.path.join(base, "train"), os.path.join(root, "train"))


if __name__ == "__main__":
    sys.exit(
        "benchmarks/scale_folders.py: helpers of benchmarks/scale.py, "
        "not a script; run python benchmarks/scale.py --help"
    )
