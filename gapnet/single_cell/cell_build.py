"""Building (or resuming) a cells folder (`gapnet.single_cell.cell_cache` has its layout):
each field segmented (or its mask read), its mask written and its crops appended, in
worker processes when `workers` > 1.

Parallel and serial builds write the same bytes: a worker does one field's work (read,
segment, write the field's own mask file, crop) and hands back its crops and record; the
parent writes the crops at the next rows and the records to the index in the fields'
order, so rows, masks and index are those of a one-process build. At most `2 x workers`
fields are in flight (submitted, or done and waiting their turn), so the memory held is
bounded by the workers, not the fields. Workers are spawned (not forked: the job has
TensorFlow loaded by then) and run one field at a time. Before a build the free space is
checked for the fields left (crop bytes at the mean cell count of the finished fields,
else `DEFAULT_CELLS`), refusing with the bytes needed.
"""

from __future__ import annotations

import json
import os

import numpy as np

from gapnet.classes import CHANNELS
from gapnet.single_cell.cell_cache import (
    CROPS,
    INDEX,
    MASKS,
    CellCache,
    content_print,
    field_files,
    file_key,
    read_index,
)
from gapnet.workers import available_cores  # noqa: F401 (imported from here too)

DEFAULT_CELLS = 60  # cells per field assumed by the free-space check before any is done
MASK_RATIO = 0.05  # PNG bytes / raw 16-bit bytes of a cell mask (as gapnet.segment.masks)
FLUSH = 16  # fields between two flushes of the crops and the index
IN_FLIGHT = 2  # fields in flight per worker


def _settings(crop: int, diameter, masks) -> str:
    d = None if masks else diameter
    return json.dumps({"crop": crop, "nucleus_diameter_at_512": d, "given_masks": bool(masks)})


def _check_space(folder, records, todo, first_side: int, crop: int) -> None:
    from gapnet.io import check_free_space

    if not todo:
        return
    done = [r["n"] for r in records.values()]
    cells = float(np.mean(done)) if done else DEFAULT_CELLS
    per_field = int(cells * crop * crop * len(CHANNELS) + first_side**2 * 2 * MASK_RATIO + 4096)
    check_free_space(
        folder, len(todo) * per_field, f"the cell crops and masks of {len(todo)} fields"
    )


def cell_set(
    image_dir: str,
    ids,
    folder: str,
    crop: int = 64,
    masks: str | None = None,
    diameter: float | None = None,
    ext: str = "png",
    log=print,
    workers: int | None = 1,
) -> CellCache:
    """Builds (or resumes) the cells of `ids` (fields read at their own size from
    `image_dir`) in `folder` (`cell_cache`'s layout) and returns them. Cells: `masks`'
    files (`field_cells`), or gapnet's segmentation at nucleus diameter `diameter` px at
    512 (scaled to the field), or estimated from each field when None. `workers`
    processes segment and crop the fields (None: the cores available); the folder is the
    same bytes whatever their number.

    Raises:
        DataError / ImageError: a field or mask that cannot be read, naming it.
        DiskSpaceError: the crops and masks left would not fit, with the bytes needed."""
    from gapnet.single_cell.cell_set import native_size

    os.makedirs(os.path.join(folder, MASKS), exist_ok=True)
    records, end = read_index(folder)
    settings = _settings(crop, diameter, masks)
    todo, rekeyed = [], False
    for sid in ids:
        files = field_files(image_dir, masks, sid, ext)
        r = records.get(sid)
        keys = [file_key(p) for p in files]
        if r is not None and r["settings"] == settings:
            if r["keys"] == keys and r["files"] == [os.path.basename(p) for p in files]:
                continue
            if content_print(files, settings) == r["print"]:  # touched, not changed
                records[sid], rekeyed = {**r, "keys": keys}, True
                continue
        todo.append(sid)
    if todo:
        _check_space(folder, records, todo, native_size(image_dir, todo[0], ext), crop)
    with open(os.path.join(folder, CROPS), "ab") as f:  # drop rows no line records
        f.truncate(end * crop * crop * len(CHANNELS))
    workers = min(workers or available_cores(), max(len(todo), 1))
    job = (image_dir, folder, crop, masks, diameter, ext)
    pending = []
    fd = os.open(os.path.join(folder, CROPS), os.O_WRONLY)
    try:
        for n, (rec, data) in enumerate(_done_in_order(job, todo, workers)):
            _write_crops(fd, data, end * crop * crop * len(CHANNELS), folder)
            rec.update(row=int(end), settings=settings)
            end += rec["n"]
            records[rec["id"]] = rec
            pending.append(rec)
            if len(pending) >= FLUSH or n == len(todo) - 1:
                _flush(folder, fd, pending)
                pending = []
            if len(todo) >= 20 and (n + 1) % max(len(todo) // 10, 1) == 0:
                log(f"cells: {n + 1}/{len(todo)} fields segmented and cropped")
    finally:
        if pending:
            _flush(folder, fd, pending)
        os.close(fd)
    if rekeyed:  # touched but unchanged: their new keys, so they are not rehashed again
        _rewrite_keys(folder, records)
    cs = CellCache(folder, ids, records, crop)
    log(
        f"cells: {cs.n_cells} in {len(ids)} fields ({len(todo)} segmented and cropped now"
        f"{f' by {workers} workers' if workers > 1 else ''}, the rest read from the cache)"
    )
    return cs


def _done_in_order(job: tuple, todo: list, workers: int):
    """Each field of `todo`'s (record, crop bytes) in `todo`'s order: in this process
    (workers 1), or from `workers` spawned processes with at most IN_FLIGHT x workers
    fields submitted and not yet handed on (`gapnet.workers.in_order`)."""
    from gapnet.workers import in_order

    jobs = ((job[0], sid, *job[1:]) for sid in todo)
    yield from in_order(_one_field, jobs, workers, IN_FLIGHT)


def _write_crops(fd: int, data: bytes, offset: int, folder: str) -> None:
    from gapnet.data.cache import _write_row

    _write_row(fd, data, offset, os.path.join(folder, CROPS))


def _flush(folder: str, fd: int, records: list) -> None:
    """Crops and masks on disk, then the fields' lines: a line names only finished rows."""
    os.fsync(fd)
    with open(os.path.join(folder, INDEX), "a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _rewrite_keys(folder: str, records: dict) -> None:
    """The index rewritten (one line per field, the live records) when file keys moved."""
    from gapnet.io import atomic_write_text

    path = os.path.join(folder, INDEX)
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            live = records.get(r["id"])
            if live is not None and live["row"] == r["row"] and live["print"] == r["print"]:
                r = live
            lines.append(json.dumps(r, separators=(",", ":")))
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))


def _one_field(image_dir, sid, folder, crop, masks, diameter, ext) -> tuple[dict, bytes]:
    """Segments (or reads the mask of) one field and writes its mask file; returns its
    index record (without its row) and its crops' bytes (run in a worker or here)."""
    from gapnet.data.images import read_sample
    from gapnet.segment import edge_labels, write_mask
    from gapnet.single_cell.cell_set import cells_of, native_size
    from gapnet.single_cell.crops import cell_crops

    files = field_files(image_dir, masks, sid, ext)
    keys = [file_key(p) for p in files]
    fp = content_print(files, _settings(crop, diameter, masks))
    image = read_sample(image_dir, sid, native_size(image_dir, sid, ext), ext)
    cells, source, own, used = cells_of(image, masks, sid, diameter)
    c, labels = cell_crops(image, cells, crop)
    edge = np.isin(labels, edge_labels(cells))
    write_mask(os.path.join(folder, MASKS, f"{sid}.png"), cells, source=sid)
    record = {
        "id": sid,
        "print": fp,
        "files": [os.path.basename(p) for p in files],
        "keys": keys,
        "n": int(len(c)),
        "edge": "".join("1" if e else "0" for e in edge),
        "labels": [int(x) for x in own],
        "source": source,
        "shape": list(cells.shape),
        "diameter": None if used is None else round(float(used), 2),
    }
    return record, np.ascontiguousarray(c).tobytes()
