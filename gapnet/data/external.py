"""Importing HPAv18 external samples (`<id>_<color>.jpg`, 2048/1728 px RGB) into the Kaggle layout.

Each channel is reduced to its plane (`gapnet.data.images`: R, G, B, and mean(R, G) for yellow),
resized to `size` and written as an 8-bit grayscale PNG in `ROOT/train/`; the label rows
are added to `ROOT/train.csv`. Skipped and reported (each listed, except the samples already
in ROOT: counted): samples already in ROOT, Ids repeated in the label file, incomplete file
sets (some channels there, others not), unreadable files, exact duplicates (identical
resized green channel of an earlier sample), and file sets in SRC with no label row.
Labelled Ids with no file at all in SRC are only counted (a label file for all 74,606
HPAv18 samples beside a folder holding a few is not a problem). SRC is listed once (no
per-file stat). A rerun continues: the JPEGs of samples whose four PNGs a killed run
finished are not decoded again (their green PNG gives the duplicate check's hash; a
damaged one is converted again). At most `CHUNK` decoded samples wait for the PNG writer.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

from gapnet.classes import CHANNELS
from gapnet.data.images import ImageError, channel_path, read_channel
from gapnet.data.labels import DataError, format_target, parse_label_csv
from gapnet.io import atomic_write_text, check_free_space
from gapnet.progress import track

PNG_RATIO = 0.65  # PNG bytes / raw bytes assumed by the free-space check (Kaggle's: 0.61)
COUNTED = ("already in ROOT",)  # reasons the report counts without listing the Ids
CHUNK = 64  # samples decoded ahead of the PNG writer: memory flat in n and cores
DONE = object()  # convert(): the sample's PNGs are there already
HASHES = "image_hashes.csv"  # Id -> sha256 of its green channel at the dataset's size


def _chunked(fn, items, pool):
    """`pool.map(fn, ...)` over `items` (first elements), CHUNK at a time, in order: at
    most CHUNK decoded samples wait in memory, however many cores decode."""
    for start in range(0, len(items), CHUNK):
        yield from pool.map(fn, [item[0] for item in items[start : start + CHUNK]])


def _known_hashes(root: str, ids, size: int, pool) -> dict[str, str]:
    """sha256 -> Id for the samples already in ROOT (its Kaggle images included, so
    HPAv18 copies of them are caught); cached in ROOT/image_hashes.csv."""
    known: dict[str, str] = {}
    path = os.path.join(root, HASHES)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            for line in f.readlines()[1:]:
                i, h = line.strip().split(",")
                known[i] = h
    todo = [i for i in ids if i not in known]

    def digest(sample_id):
        plane = read_channel(channel_path(image_dir, sample_id, "green", ext), "green", size)
        return sample_id, hashlib.sha256(plane.tobytes()).hexdigest()

    if todo:
        from gapnet.data.source import open_source

        source = open_source(root)
        image_dir, ext = source.image_dir, source.ext
        known.update(pool.map(digest, todo))
    wanted = set(ids)
    return {h: i for i, h in known.items() if i in wanted}


def import_external(
    src: str,
    root: str,
    labels_csv: str,
    size: int = 512,
    workers: int | None = None,
    progress: bool = True,
    log=print,
) -> dict:
    """Imports every labelled sample of `src`; returns counts and the skipped Ids by reason."""
    from PIL import Image

    table, problems = parse_label_csv(labels_csv)
    skipped = {
        "label file problem": [str(p) for p in problems],
        "already in ROOT": [],
        "incomplete file set": [],
        "unreadable file": [],
        "duplicate image": [],
        "files without a label row": [],
    }
    try:
        names = {e.name for e in os.scandir(src) if e.is_file()}
    except OSError as e:
        raise DataError(f"{src}: cannot list the HPAv18 folder ({e.strerror})") from None
    on_disk: dict[str, set] = {}
    for name in names:
        stem, _, color = name[: -len(".jpg")].rpartition("_")
        if name.endswith(".jpg") and color in CHANNELS and stem:
            on_disk.setdefault(stem, set()).add(color)
    labelled = set(table.ids) | {p.sample_id for p in problems if p.sample_id}
    skipped["files without a label row"] = sorted(set(on_disk) - labelled)
    no_files = 0
    out_dir = os.path.join(root, "train")
    os.makedirs(out_dir, exist_ok=True)
    train_csv = os.path.join(root, "train.csv")
    existing, rows = set(), ["Id,Target"]
    if os.path.isfile(train_csv):
        old, old_problems = parse_label_csv(train_csv)
        if old_problems:
            raise DataError(
                f"{train_csv} has bad rows; fix them first:\n"
                + "\n".join(map(str, old_problems[:10]))
            )
        existing = set(old.ids)
        rows += [f"{i},{format_target(t)}" for i, t in zip(old.ids, old.targets, strict=True)]
    todo = []
    for sample_id, target in zip(table.ids, table.targets, strict=True):
        have = on_disk.get(sample_id, set())
        if sample_id in existing:
            skipped["already in ROOT"].append(sample_id)
        elif len(have) == len(CHANNELS):
            todo.append((sample_id, target))
        elif have:
            missing = [c for c in CHANNELS if c not in have]
            skipped["incomplete file set"].append(f"{sample_id}: no {', '.join(missing)}")
        else:
            no_files += 1

    def convert(sample_id: str):
        if all(f"{sample_id}_{c}.png" in written for c in CHANNELS):  # a killed run's
            green = channel_path(out_dir, sample_id, "green", "png")  # PNGs: not redone
            try:
                plane = read_channel(green, "green", size)
                return sample_id, DONE, hashlib.sha256(plane.tobytes()).hexdigest()
            except ImageError:  # damaged since: converted again from the JPEGs
                pass
        planes = {}
        for color in CHANNELS:
            try:
                planes[color] = read_channel(
                    channel_path(src, sample_id, color, "jpg"), color, size
                )
            except ImageError as e:
                return sample_id, None, str(e)
        return sample_id, planes, hashlib.sha256(planes["green"].tobytes()).hexdigest()

    # PNG bytes, estimated: Kaggle's 512-px PNGs average 640 KB a sample, 61 % of raw; a
    # killed import's finished PNGs are already on disk
    written = {e.name for e in os.scandir(out_dir)}
    new = sum(not all(f"{i}_{c}.png" in written for c in CHANNELS) for i, _ in todo)
    if new < len(todo):
        log(f"{len(todo) - new} samples were converted by an earlier run: not decoded again")
    check_free_space(
        out_dir, int(new * size * size * len(CHANNELS) * PNG_RATIO), f"{new} new samples"
    )
    added = []
    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        seen = _known_hashes(root, sorted(existing), size, pool)
        bar = track(len(todo), "importing", enabled=progress)
        results = _chunked(convert, todo, pool)
        for (sample_id, target), (_, planes, digest) in zip(todo, results, strict=True):
            bar.update()
            if planes is None:
                skipped["unreadable file"].append(f"{sample_id}: {digest}")
                continue
            if digest in seen:
                skipped["duplicate image"].append(f"{sample_id} (same as {seen[digest]})")
                continue
            seen[digest] = sample_id
            for color, plane in ({} if planes is DONE else planes).items():
                path = channel_path(out_dir, sample_id, color, "png")  # (re)written whole
                Image.fromarray(plane).save(path + ".tmp.png")
                os.replace(path + ".tmp.png", path)
            rows.append(f"{sample_id},{format_target(target)}")
            added.append(sample_id)
        bar.close()
    atomic_write_text(train_csv, "\n".join(rows) + "\n")
    atomic_write_text(
        os.path.join(root, HASHES),
        "Id,sha256\n" + "".join(f"{i},{h}\n" for h, i in sorted(seen.items())),
    )
    report = [f"{len(added)} imported into {root} at {size}px"] + [
        f"{len(v)} skipped: {k}" + ("" if k in COUNTED else "".join(f"\n  {x}" for x in v))
        for k, v in skipped.items()
        if v
    ]
    if no_files:
        report.append(f"{no_files} labelled Ids have no file in {src} (not listed)")
    atomic_write_text(os.path.join(root, "import_report.txt"), "\n".join(report) + "\n")
    log(
        report[0]
        + "".join(f"; {len(v)} skipped ({k})" for k, v in skipped.items() if v)
        + f"; details in {os.path.join(root, 'import_report.txt')}"
    )
    return {"imported": added, "skipped": skipped, "labelled_without_files": no_files}
