"""The map-based per-cell scores of the single-cell job (explain's rule), fold by fold and
resumable.

    RUN/maps/fold_<k>.npy   the scores of the cells of fold k's fields (field order)
    RUN/maps/fold_<k>.json  its stamp: the print of fold k's fields' cells and fold k's image
                            model's checksums

Each fold's fields are mapped by that fold's image model (which never trained on them),
and each fold's scores are written as soon as they are done: a killed job keeps the folds
mapped, and a rerun maps only the folds whose cells or image model changed since.
"""

from __future__ import annotations

import json
import os

import numpy as np


def map_scores(image_run, reader, ids, folds, image_p, cs, batch: int = 16, only=None):
    """(n_cells, C) explain's per-cell scores (gradient x input maps of each field's own
    fold model; `cell_calls`' p_k * min(r_k, 1)), every class mapped; each field's mask
    read from the cells' folder when its batch is mapped. `only`: the folds to map (the
    other rows stay 0)."""
    from gapnet.cv.submission import fold_models
    from gapnet.explain.cells import cell_calls
    from gapnet.explain.maps import Explainer, class_maps
    from gapnet.training.predict import load_model

    paths = fold_models(image_run)
    every = list(range(image_p.shape[1]))
    thr = np.full(len(every), 0.5)  # the scores do not threshold
    out = np.zeros((cs.n_cells, len(every)), np.float32)
    for k in sorted(set(np.asarray(folds).tolist())):
        if only is not None and k not in only:
            continue
        explainer = Explainer(load_model(paths[k], compile=False))
        fields = np.flatnonzero(np.asarray(folds) == k)
        for start in range(0, len(fields), batch):  # a batch of fields per gradient call
            chunk = fields[start : start + batch]
            x = np.stack([reader(int(n)) for n in chunk])
            maps = class_maps(explainer, x, every, method="input_gradient")
            for n, m in zip(chunk, maps, strict=True):
                out[cs.rows(n)] = cell_calls(image_p[n], thr, m, every, cs.mask(n))[0]
    return out


def _fold_rows(cs, folds, k) -> np.ndarray:
    """The cells of fold k's fields, in order (cells are numbered in field order)."""
    return np.flatnonzero(np.asarray(folds)[cs.cell_fields()] == k)


def _stamp(image_run: str, k: int, cs, folds) -> dict:
    """Fold k's stamp: the print of its own fields' cells (their images and masks) and its
    image model's checksums; a change in another fold's fields leaves it standing."""
    import hashlib

    from gapnet.io import read_json

    done = read_json(os.path.join(image_run, f"fold_{k}", "done.json"))
    mine = np.flatnonzero(np.asarray(folds) == k)
    cells = hashlib.sha256("".join(cs.field_prints[n] for n in mine).encode()).hexdigest()
    return {"cells": cells, "model": done.get("sha256", {})}


def cached_map_scores(out, image_run, reader, ids, folds, image_p, cs, log=print) -> np.ndarray:
    """`map_scores`, each fold kept in `out` (RUN/maps) as it finishes and read back on a
    rerun while its stamp (its fields' cells' print, the fold model's checksums) still holds."""
    from gapnet.io import atomic_save_npy, atomic_write_text, read_json

    os.makedirs(out, exist_ok=True)
    scores = np.zeros((cs.n_cells, image_p.shape[1]), np.float32)
    kept = []
    for k in sorted(set(np.asarray(folds).tolist())):
        rows = _fold_rows(cs, folds, k)
        path, stamp_path = (os.path.join(out, f"fold_{k}.{e}") for e in ("npy", "json"))
        stamp = _stamp(image_run, k, cs, folds)
        if os.path.isfile(stamp_path) and read_json(stamp_path) == stamp:
            saved = np.load(path) if os.path.isfile(path) else None
            if saved is not None and saved.shape == (len(rows), scores.shape[1]):
                scores[rows] = saved
                kept.append(k)
                continue
        log(f"maps: fold {k}, gradient x input of its own image model on its fields")
        fold_scores = map_scores(image_run, reader, ids, folds, image_p, cs, only={k})
        atomic_save_npy(path, fold_scores[rows])
        atomic_write_text(stamp_path, json.dumps(stamp))
        scores[rows] = fold_scores[rows]
    if kept:
        log(f"maps: folds {kept} kept from an earlier run (same cells and image models)")
    return scores
