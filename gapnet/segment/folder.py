"""Segmenting every sample of a Kaggle-layout split into `<Id>_{cells,nuclei}.png`, in
parallel and resumably, with `segmentation.csv` (one row per image)."""

from __future__ import annotations

import os

from gapnet.classes import CHANNELS
from gapnet.progress import track
from gapnet.segment.cells import SegmentParams, edge_labels, grow_cells
from gapnet.segment.masks import check_mask_space, read_mask, write_mask

SEGMENTATION_FIELDS = (
    "image",
    "file",
    "height",
    "width",
    "nucleus_diameter",
    "diameter",
    "method",
    "nuclei",
    "cells",
    "edge",
    "warning",
    "error",
)
NO_NUCLEI = "no nuclei found"


def write_segmentation_csv(path: str, rows: list[dict]) -> None:
    """segmentation.csv: one row per image (SEGMENTATION_FIELDS), written atomically."""
    import csv
    import io

    from gapnet.io import atomic_write_text

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(SEGMENTATION_FIELDS), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _segment_one(job) -> dict:
    """Segments one Kaggle-layout sample (or finds it done) and returns its CSV row; the
    row is kept in `out/rows/<Id>.json` so that a resumed run still reports it."""
    import json

    from gapnet.io import atomic_write_json

    image_dir, ext, sample_id, size, params, out = job
    from gapnet.data.images import read_sample

    cells_path = os.path.join(out, f"{sample_id}_cells.png")
    nuclei_path = os.path.join(out, f"{sample_id}_nuclei.png")
    row_path = os.path.join(out, "rows", f"{sample_id}.json")
    where = os.path.join(image_dir, f"{sample_id}_*")
    if os.path.isfile(cells_path) and os.path.isfile(nuclei_path):  # resumed: done before
        if os.path.isfile(row_path):
            with open(row_path) as f:
                return {"method": "not recorded", **json.load(f)}  # rows before the column
        cells = read_mask(cells_path)  # segmented by a gapnet that kept no row
        nuclei = read_mask(nuclei_path)
        return segmentation_row(sample_id, where, cells, nuclei, "", "not recorded", "not recorded")
    image = read_sample(image_dir, sample_id, size, ext)
    blue = image[..., CHANNELS.index("blue")]
    body = [image[..., CHANNELS.index(c)] for c in ("red", "yellow")]
    cells, nuclei, diameter = grow_cells(blue, body, params)
    given = "given" if params.nucleus_diameter else "estimated"
    d = round(float(diameter), 1)
    row = segmentation_row(sample_id, where, cells, nuclei, d, given, params.method)
    write_mask(nuclei_path, nuclei, where)
    atomic_write_json(row_path, row)
    write_mask(cells_path, cells, where)  # last: its presence marks the sample done
    return row


def segmentation_row(sample_id, where, cells, nuclei, diameter, given, method) -> dict:
    """One image's segmentation.csv row (SEGMENTATION_FIELDS) from its masks; `method`:
    the nucleus method that made them ("learned", "classical" or "not recorded")."""
    return {
        "image": sample_id,
        "file": where,
        "height": cells.shape[0],
        "width": cells.shape[1],
        "nucleus_diameter": diameter,
        "diameter": given,
        "method": method,
        "nuclei": int(nuclei.max()),
        "cells": int(cells.max()),
        "edge": " ".join(str(i) for i in edge_labels(cells)),
        "warning": NO_NUCLEI if nuclei.max() == 0 else "",
        "error": "",
    }


def segment_folder(
    root: str,
    out: str,
    size: int = 512,
    params: SegmentParams = SegmentParams(),
    split: str = "train",
    workers: int | None = None,
    progress: bool = True,
) -> list[dict]:
    """Segments every sample of a Kaggle-layout split into `out/<Id>_{cells,nuclei}.png`
    (16-bit labels at `size`) and writes `out/segmentation.csv` (per sample: the nucleus
    diameter used, given or estimated, the counts, the edge cells, a warning where no
    nucleus was found); samples already done are skipped (a killed run resumes).
    Returns the CSV rows, in the split's order."""
    from multiprocessing import get_context

    from gapnet.data.source import open_source
    from gapnet.workers import exit_with_parent

    src = open_source(root, split)
    os.makedirs(out, exist_ok=True)
    jobs = [(src.image_dir, src.ext_of(i), i, size, params, out) for i in src.labels.ids]
    check_mask_space(out, src.labels.ids, size)
    os.makedirs(os.path.join(out, "rows"), exist_ok=True)
    workers = max(1, workers or os.cpu_count() or 1)
    rows = {}
    with track(len(jobs), "segmenting", enabled=progress) as bar:
        if workers == 1:
            for job in jobs:
                row = _segment_one(job)
                rows[row["image"]] = row
                bar.update()
        else:
            with get_context("spawn").Pool(
                workers, initializer=exit_with_parent, initargs=(os.getpid(),)
            ) as pool:
                for row in pool.imap_unordered(_segment_one, jobs, chunksize=2):
                    rows[row["image"]] = row
                    bar.update()
    ordered = [rows[i] for i in src.labels.ids]
    write_segmentation_csv(os.path.join(out, "segmentation.csv"), ordered)
    return ordered
