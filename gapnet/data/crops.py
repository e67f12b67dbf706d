"""A folder of a user's own labelled images (e.g. single-cell crops) written in gapnet's
layout: `OUT/train.csv` (`Id,Target`), `OUT/classes.csv` (`index,name`), and
`OUT/train/<Id>_<channel>.<ext>` (links to the files, or copies where links fail), with a
fixed hashed hold-out set kept out of all tuning (`OUT/holdout/`, `OUT/holdout.csv`).
"""

from __future__ import annotations

import hashlib
import os
import shutil

from gapnet.io import atomic_write_text


def held_out(sample_id: str, fraction: float) -> bool:
    """Whether `sample_id` is in the hold-out set: the first 8 bytes of its SHA-256 below
    `fraction` of their range (fixed by the Id alone, so decided before any training)."""
    h = int.from_bytes(hashlib.sha256(sample_id.encode()).digest()[:8], "big")
    return h < fraction * 2**64


def _place(src: str, dst: str) -> None:
    if os.path.lexists(dst):
        os.remove(dst)
    try:
        os.symlink(os.path.abspath(src), dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_dataset(out: str, samples, class_names, holdout: float = 0.2) -> dict:
    """Writes the layout above. `samples`: (Id, class index or None, {channel: file path},
    extra columns dict) per sample; a sample with class None goes to neither set (listed
    in `OUT/excluded.csv`); `holdout` of the others (hashed per Id, `held_out`) go to
    `OUT/holdout/`. Returns the counts per set and class."""
    for sub in ("train", "holdout"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    rows = {"train": [], "holdout": [], "excluded": []}
    extra_keys = sorted({k for *_, extra in samples for k in extra})
    for sid, cls, files, extra in samples:
        where = "excluded" if cls is None else ("holdout" if held_out(sid, holdout) else "train")
        rows[where].append(
            ",".join(
                [sid, "" if cls is None else str(cls)] + [str(extra.get(k, "")) for k in extra_keys]
            )
        )
        if where != "excluded":
            for ch, path in files.items():
                ext = os.path.splitext(path)[1]
                _place(path, os.path.join(out, where, f"{sid}_{ch}{ext}"))
    atomic_write_text(
        os.path.join(out, "train.csv"),
        "Id,Target\n"
        + "".join(r.split(",", 2)[0] + "," + r.split(",", 2)[1] + "\n" for r in rows["train"]),
    )
    head = ",".join(["Id", "Target"] + extra_keys) + "\n"
    for name in ("holdout", "excluded"):
        atomic_write_text(
            os.path.join(out, f"{name}.csv"), head + "".join(r + "\n" for r in rows[name])
        )
    atomic_write_text(
        os.path.join(out, "classes.csv"),
        "index,name\n" + "".join(f"{k},{n}\n" for k, n in enumerate(class_names)),
    )
    return {k: len(v) for k, v in rows.items()}
