"""Finding an HPA dataset on disk: its label CSV, its image folder and its file type.

Kaggle layout: `ROOT/train.csv` with images in `ROOT/train/` (Kaggle's unzip layout) or
directly in `ROOT`; the test split is `ROOT/sample_submission.csv` with images in
`ROOT/test/` (or `ROOT`). Four files per sample: `<Id>_red|green|blue|yellow.<ext>`,
where ext is png (Kaggle) or jpg (HPAv18), detected from the first sample.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from gapnet.data.images import IMAGE_EXTENSIONS, channel_path
from gapnet.data.labels import DataError, LabelTable, Problem, parse_label_csv

SPLITS = {"train": ("train.csv", "train"), "test": ("sample_submission.csv", "test")}


@dataclass(frozen=True)
class HPASource:
    """A dataset split on disk.

    Attributes:
        root: the dataset folder.
        split: "train" or "test".
        csv_path: the label CSV.
        image_dir: the folder holding the `<Id>_<color>.<ext>` files.
        ext: image file extension.
        labels: the CSV's good rows.
        csv_problems: the CSV's bad rows (left out of `labels`).
    """

    root: str
    split: str
    csv_path: str
    image_dir: str
    ext: str
    labels: LabelTable
    csv_problems: tuple[Problem, ...]

    def paths(self, sample_id: str) -> list[str]:
        from gapnet.classes import CHANNELS

        return [channel_path(self.image_dir, sample_id, c, self.ext) for c in CHANNELS]


def _detect_ext(image_dir: str, ids) -> str:
    for sample_id in ids[:20]:
        for ext in IMAGE_EXTENSIONS:
            if os.path.exists(channel_path(image_dir, sample_id, "green", ext)):
                return ext
    return "png"


def open_source(
    root: str | os.PathLike, split: str = "train", scheme: str | None = None
) -> HPASource:
    """Locates a split of an HPA dataset and parses its CSV (bad rows become problems);
    `scheme` ("hpa2018", "hpa2021") or None: the CSV header's (`gapnet.data.labels`).

    Raises:
        DataError: the folder or its CSV is missing, or the CSV is unusable as a whole.
    """
    root = os.path.abspath(os.fspath(root))
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    if not os.path.isdir(root):
        raise DataError(f"{root}: dataset folder not found")
    csv_name, sub = SPLITS[split]
    csv_path = os.path.join(root, csv_name)
    if not os.path.isfile(csv_path):
        raise DataError(
            f"{csv_path}: missing (expected the Kaggle layout: ROOT/{csv_name} "
            f"with images in ROOT/{sub}/ or ROOT/)"
        )
    labels, problems = parse_label_csv(csv_path, require_targets=(split == "train"), scheme=scheme)
    image_dir = os.path.join(root, sub)
    if not os.path.isdir(image_dir):
        image_dir = root
    return HPASource(
        root,
        split,
        csv_path,
        image_dir,
        _detect_ext(image_dir, labels.ids),
        labels,
        tuple(problems),
    )
