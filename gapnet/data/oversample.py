"""Oversampling of rare labels (seed 002): physical augmented copies, or sampling weights.

`plan_copies` decides how many copies each sample gets so that every label occurs at
least `min_count` times: while a label is short, a random carrier of the currently
rarest short label is copied (co-occurring labels rise too, as in the seed). The same
plan drives both forms:

- physical (`write_oversampled`): a new Kaggle-layout folder whose `train.csv` lists the
  originals plus `<Id>_os<j>` copies with a `Source` column; a copy is the source's four
  channels under one lossless dihedral transform (rotation by 90 degrees and/or flip,
  never the identity, the same for all four channels). Originals are linked, not copied.
- virtual (`sampling_weights`): weight 1 + copies per sample for the tf.data sampler
  (`make_dataset(weights=...)`), the same expected label counts without any file.

Folds: `gapnet.cv.folds.make_folds(groups=table.groups)` keeps every copy in its source's
fold (run_kfold does this by itself for a CSV with a Source column).
"""

from __future__ import annotations

import os

import numpy as np

from gapnet.classes import CHANNELS

# The seven non-identity elements of the dihedral group: (quarter turns, flip).
TRANSFORMS = [(1, False), (2, False), (3, False), (0, True), (1, True), (2, True), (3, True)]


def plan_copies(targets: np.ndarray, min_count: int, seed: int = 0) -> np.ndarray:
    """Number of augmented copies per sample so every present label reaches `min_count`."""
    targets = np.asarray(targets, bool)
    counts = targets.sum(0).astype(np.int64)
    copies = np.zeros(len(targets), np.int64)
    rng = np.random.default_rng(seed)
    carriers = [np.flatnonzero(targets[:, k]) for k in range(targets.shape[1])]
    while True:
        short = [k for k in range(len(counts)) if 0 < counts[k] < min_count]
        if not short:
            return copies
        k = min(short, key=lambda c: counts[c])
        i = rng.choice(carriers[k])
        copies[i] += 1
        counts += targets[i]


def sampling_weights(targets: np.ndarray, min_count: int, seed: int = 0) -> np.ndarray:
    """Virtual oversampling: per-sample weight 1 + its planned copies."""
    return 1.0 + plan_copies(targets, min_count, seed)


def transform(img: np.ndarray, j: int) -> np.ndarray:
    turns, flip = TRANSFORMS[j % len(TRANSFORMS)]
    out = np.rot90(img, turns)
    return np.ascontiguousarray(out[:, ::-1] if flip else out)


def write_oversampled(
    root: str, out: str, min_count: int, seed: int = 0, progress: bool = True, log=print
) -> tuple[int, int]:
    """Writes the oversampled dataset to `out`; returns (originals, copies)."""
    from PIL import Image

    from gapnet.data.images import channel_path, describe_ext, read_channel
    from gapnet.data.labels import format_target, read_labels
    from gapnet.data.source import open_source
    from gapnet.data.synthetic.marker import read_marker, write_marker
    from gapnet.io import atomic_write_text

    src = open_source(root)
    table = read_labels(src.csv_path)
    if table.sources:
        raise ValueError(f"{src.csv_path} already has a Source column (oversampled data)")
    if table.scheme != "hpa2018":
        raise ValueError(
            f"{src.csv_path} is in the {table.scheme} scheme; oversampling writes the 2018 "
            "layout (Id,Target,Source) only"
        )
    if src.ext != "png":
        raise ValueError(
            f"{src.image_dir}: {describe_ext(src.ext)} files; convert them to the Kaggle PNG "
            "layout first (data_prep/import_external.py)"
        )
    copies = plan_copies(table.targets, min_count, seed)
    os.makedirs(os.path.join(out, "train"), exist_ok=True)
    marker = read_marker(root)
    if marker is not None:  # copies of synthetic images are synthetic too
        write_marker(
            out, {k: v for k, v in marker.items() if k not in ("synthetic", "gapnet_version")}
        )
    rows = ["Id,Target,Source"]
    for sample_id, t in zip(table.ids, table.targets, strict=True):
        for color in CHANNELS:
            link = channel_path(os.path.join(out, "train"), sample_id, color, src.ext)
            if not os.path.lexists(link):
                os.symlink(
                    os.path.abspath(channel_path(src.image_dir, sample_id, color, src.ext)), link
                )
        rows.append(f"{sample_id},{format_target(t)},")
    todo = [(i, j) for i in np.flatnonzero(copies) for j in range(copies[i])]
    from gapnet.progress import track

    with track(len(todo), "augmented copies", "copy", enabled=progress) as bar:
        for i, j in todo:
            sample_id = table.ids[i]
            new_id = f"{sample_id}_os{j}"
            for color in CHANNELS:
                path = channel_path(os.path.join(out, "train"), new_id, color, "png")
                if not os.path.exists(path):  # a rerun after a kill skips finished copies
                    src_path = channel_path(src.image_dir, sample_id, color, src.ext)
                    tmp = path + ".tmp.png"
                    Image.fromarray(transform(read_channel(src_path, color), j)).save(tmp)
                    os.replace(tmp, path)
            rows.append(f"{new_id},{format_target(table.targets[i])},{sample_id}")
            bar.update()  # after the copy: 100 % means done
    atomic_write_text(os.path.join(out, "train.csv"), "\n".join(rows) + "\n")
    before, after = table.targets.sum(0), table.targets.sum(0) + copies @ table.targets
    low = [k for k in range(len(before)) if 0 < after[k] < min_count]
    log(
        f"{out}: {len(table)} originals + {len(todo)} copies; rarest label before "
        f"{before[before > 0].min()}, after {after[after > 0].min()}"
        + (f"; still short: {low}" if low else "")
    )
    return len(table), len(todo)
