"""The HPA 2021 submission format: `ID,ImageWidth,ImageHeight,PredictionString`, the string
a space-separated list of `label confidence mask` triples (a cell with several labels
repeats its mask), each mask the COCO RLE of a Fortran-order uint8 H x W x 1 array
(pycocotools `encode`), zlib-compressed at level 9, base64: the competition's own
`encode_binary_mask`. Pure but for pycocotools.
"""

from __future__ import annotations

import base64
import zlib

import numpy as np

HEADER = "ID,ImageWidth,ImageHeight,PredictionString"


def encode_mask(mask: np.ndarray) -> str:
    """The competition's string for one binary (H, W) mask."""
    from pycocotools import mask as coco

    m = np.asfortranarray(np.asarray(mask, bool).astype(np.uint8)[..., None])
    counts = coco.encode(m)[0]["counts"]
    return base64.b64encode(zlib.compress(counts, zlib.Z_BEST_COMPRESSION)).decode("ascii")


def decode_mask(text: str, height: int, width: int) -> np.ndarray:
    """The binary (H, W) mask of one encoded string (`encode_mask`'s inverse).

    Raises:
        ValueError: the text is not base64 of zlib-compressed COCO RLE of that size."""
    import warnings

    from pycocotools import mask as coco

    try:
        counts = zlib.decompress(base64.b64decode(text, validate=True))
        with warnings.catch_warnings():  # pycocotools 2.0's NumPy 2 copy-keyword warning
            warnings.simplefilter("ignore", DeprecationWarning)
            mask = coco.decode({"size": [int(height), int(width)], "counts": counts})
    except Exception as e:  # binascii.Error, zlib.error, pycocotools' own
        raise ValueError(f"not an encoded {height}x{width} mask ({e})") from None
    return mask.astype(bool)


def cell_masks_encoded(cells: np.ndarray) -> dict[int, str]:
    """{cell: its mask's encoding (`encode_mask`)} of every cell of a label image: the
    slow part of a 2048-px field's PredictionString, done where the field is segmented."""
    return {int(c): encode_mask(cells == c) for c in np.unique(cells) if c != 0}


def prediction_string(
    cells: np.ndarray, scores: np.ndarray, min_score: float = 0.0, encoded=None
) -> str:
    """One image's PredictionString from its cell label image (H, W) and (n, C) scores
    (row i for cell i + 1; NaN or below `min_score`: not submitted). Each cell's mask is
    encoded once (or taken from `encoded`, `cell_masks_encoded(cells)`) and repeated for
    each of its labels."""
    parts = []
    scores = np.asarray(scores, np.float64)
    for cell in np.unique(cells):
        if cell == 0:
            continue
        row = scores[cell - 1]
        keep = np.flatnonzero(np.isfinite(row) & (row >= min_score))
        if not len(keep):
            continue
        rle = encoded[int(cell)] if encoded is not None else encode_mask(cells == cell)
        parts += [f"{int(c)} {row[c]:.6g} {rle}" for c in keep]
    return " ".join(parts)


def parse_prediction_string(text: str, height: int, width: int, n_classes: int = 19):
    """(cell label image, (n, C) scores with NaN where not predicted) of one
    PredictionString: identical masks are one cell. Inverse of `prediction_string`.

    Raises:
        ValueError: not a list of label-confidence-mask triples, a label outside
            0..n_classes-1, or a mask that does not decode at this size."""
    tokens = text.split()
    if len(tokens) % 3:
        raise ValueError(f"{len(tokens)} fields: not label-confidence-mask triples")
    cells = np.zeros((int(height), int(width)), np.int32)
    index: dict[str, int] = {}
    rows: list[np.ndarray] = []
    for i in range(0, len(tokens), 3):
        label, conf, rle = tokens[i : i + 3]
        if not label.isdigit() or int(label) >= n_classes:
            raise ValueError(f"triple {i // 3 + 1}: label {label!r} outside 0..{n_classes - 1}")
        if rle not in index:
            mask = decode_mask(rle, height, width)
            rows.append(np.full(n_classes, np.nan))
            index[rle] = len(rows)
            cells[mask & (cells == 0)] = len(rows)  # overlaps: the first mask keeps a pixel
        rows[index[rle] - 1][int(label)] = float(conf)
    return cells, np.array(rows).reshape(-1, n_classes)


def write_submission(path: str, rows) -> None:
    """The Kaggle CSV (`HEADER`) from (ID, width, height, PredictionString) rows, atomically."""
    from gapnet.io import atomic_write_text

    lines = [HEADER] + [f"{i},{int(w)},{int(h)},{s}" for i, w, h, s in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_submission(path: str, n_classes: int = 19) -> dict:
    """{ID: (cells, scores)} of a submission CSV (`parse_prediction_string` per row).

    Raises:
        ValueError: a bad header or row, naming the file and its line."""
    import csv
    import sys

    csv.field_size_limit(sys.maxsize)  # a 2048-px field's string runs to megabytes
    out = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or ",".join(h.strip() for h in header) != HEADER:
            raise ValueError(f"{path}:1: header is {header!r}; expected {HEADER!r}")
        for line, row in enumerate(reader, start=2):
            try:
                sid, w, h, text = row
                out[sid] = parse_prediction_string(text, int(h), int(w), n_classes)
            except ValueError as e:
                raise ValueError(f"{path}:{line}: {e}") from None
    return out
