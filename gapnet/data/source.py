"""Finding an HPA dataset on disk: its label CSV, its image folder and its file type.

Kaggle layout: `ROOT/train.csv` with images in `ROOT/train/` (Kaggle's unzip layout) or
directly in `ROOT`; the test split is `ROOT/sample_submission.csv` with images in
`ROOT/test/` (or `ROOT`). Four files per sample: `<Id>_red|green|blue|yellow.<ext>`,
where ext is png (Kaggle) or jpg (HPAv18), found per sample from one listing of the
folder (a folder may mix them). A run on a channel set (`gapnet.channels`) reads
`<Id>_<name>.<ext>` files, one per role, named by the user's own channel names. A folder
may declare its own classes in `ROOT/classes.csv` (`index,name`); without it, the classes
are the HPA scheme of the CSV's header.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from gapnet.channels import ALL, ChannelSet
from gapnet.data.images import IMAGE_EXTENSIONS, channel_path
from gapnet.data.label_table import LabelTable
from gapnet.data.labels import DataError, Problem, parse_label_csv
from gapnet.data.own_classes import read_classes

SPLITS = {"train": ("train.csv", "train"), "test": ("sample_submission.csv", "test")}


@dataclass(frozen=True)
class HPASource:
    """A dataset split on disk.

    Attributes:
        root: the dataset folder.
        split: "train" or "test".
        csv_path: the label CSV.
        image_dir: the folder holding the `<Id>_<color>.<ext>` files.
        ext: the image file extension of every sample ("png"), or, in a folder mixing
            file types, a dict Id -> extension (`gapnet.data.images.channel_path` takes
            either).
        labels: the CSV's good rows.
        csv_problems: the CSV's bad rows (left out of `labels`).
        channels: the roles read and their file channel names (default: the four).
    """

    root: str
    split: str
    csv_path: str
    image_dir: str
    ext: str | dict[str, str]
    labels: LabelTable
    csv_problems: tuple[Problem, ...]
    channels: ChannelSet = ALL

    def paths(self, sample_id: str) -> list[str]:
        return [channel_path(self.image_dir, sample_id, c, self.ext) for c in self.channels.names]

    def ext_of(self, sample_id: str) -> str:
        """One sample's extension: what a job for that sample carries (in a folder mixing
        file types, `ext` is a dict of every sample's, too much to send with each job)."""
        return sample_ext(self.ext, sample_id)


def sample_ext(ext, sample_id: str) -> str:
    """The extension of `sample_id` under `ext` (one extension, or a mapping Id -> ext)."""
    return ext if isinstance(ext, str) else ext.get(sample_id, "png")


def compact_ext(ext) -> str | dict:
    """`ext` as stored in a file: one extension as is; a mapping Id -> ext as the most
    common extension and the samples that differ, `{"most": ext, "others": {Id: ext}}`
    (a mixed folder of 31,072 samples: 1.5 MB as a full mapping). `expand_ext` undoes it."""
    if isinstance(ext, str):
        return ext
    from collections import Counter

    most = Counter(ext.values()).most_common(1)[0][0]
    return {"most": most, "others": {i: e for i, e in ext.items() if e != most}}


def expand_ext(stored, ids) -> str | dict[str, str]:
    """`compact_ext`'s form back as `HPASource.ext` for the samples `ids`; a full mapping
    (as older files hold) passes through."""
    if isinstance(stored, str) or set(stored) != {"most", "others"}:
        return stored
    return {i: stored["others"].get(i, stored["most"]) for i in ids}


def detect_ext(image_dir: str, ids, names=None) -> str | dict[str, str]:
    """The file extension of each sample from one listing of `image_dir` (no stat per
    file): the extension most of its four channel files have (ties: `IMAGE_EXTENSIONS`
    order). A sample with no file at all gets the folder's most common extension (png if
    none), so that its error names the file it lacks. One str when every sample agrees,
    else a dict Id -> extension."""
    from collections import Counter

    from gapnet.classes import CHANNELS

    wanted, colors = set(ids), set(names or CHANNELS)
    counts: dict[str, Counter] = {}
    try:
        names = os.listdir(image_dir)
    except OSError:
        names = []
    for name in names:
        stem, dot, ext = name.rpartition(".")
        sample_id, _, color = stem.rpartition("_")
        if dot and ext in IMAGE_EXTENSIONS and color in colors and sample_id in wanted:
            counts.setdefault(sample_id, Counter())[ext] += 1
    order = {e: k for k, e in enumerate(IMAGE_EXTENSIONS)}
    found = {i: max(c, key=lambda e: (c[e], -order[e])) for i, c in counts.items()}
    tally = Counter(found.values())
    common = max(tally, key=lambda e: (tally[e], -order[e])) if tally else "png"
    exts = {i: found.get(i, common) for i in ids}
    kinds = set(exts.values())
    return kinds.pop() if len(kinds) == 1 else (exts if kinds else common)


def open_source(
    root: str | os.PathLike,
    split: str = "train",
    scheme: str | None = None,
    channels: ChannelSet | None = None,
) -> HPASource:
    """Locates a split of an HPA dataset and parses its CSV (bad rows become problems);
    `scheme` ("hpa2018", "hpa2021") or None: `ROOT/classes.csv`'s own classes if there is
    one, else the CSV header's (`gapnet.data.labels`); `channels`: the run's channel set.

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
    classes = os.path.join(root, "classes.csv")
    if scheme is None and os.path.isfile(classes):
        scheme = read_classes(classes)
    labels, problems = parse_label_csv(csv_path, require_targets=(split == "train"), scheme=scheme)
    image_dir = os.path.join(root, sub)
    if not os.path.isdir(image_dir):
        image_dir = root
    return HPASource(
        root,
        split,
        csv_path,
        image_dir,
        detect_ext(image_dir, labels.ids, (channels or ALL).names),
        labels,
        tuple(problems),
        channels or ALL,
    )
