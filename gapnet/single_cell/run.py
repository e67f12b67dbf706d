"""The single-cell job: image model, cells, cell model, the four methods' per-cell scores,
and (when the data has true cells) their mAP@0.6 and per-cell macro-F1, into a run folder.

    RUN/single_cell.json   the resolved SingleCellConfig
    RUN/image_run/         the image model: a gapnet K-fold run (`gapnet.cv.kfold`)
    RUN/cells/             every field's cells: masks/<Id>.png, the uint8 crops of every
                           cell in one file, index.jsonl (`gapnet.single_cell.cell_cache`)
    RUN/cell_model/        fold_<k>.keras, fold_<k>.npy (its out-of-fold cell scores) and
                           fold_<k>.json (the print of the cells it was made from)
    RUN/maps/              map-based scores of every cell (explain's rule), fold by fold
                           (`gapnet.single_cell.cell_maps`)
    RUN/cells.csv          per cell: Id, cell, mask_label, edge, fold, image_x_cell's scores
    RUN/results.json       every figure (synthetic data: labelled so)
    RUN/report/            report.md and report.html (`gapnet.single_cell.report`)

Cross-fitting: the image model's folds (multilabel-stratified over images) are the cell
model's, so a field's cells are scored by a cell model that never trained on any cell of
that field, and its image probabilities come from the fold model that never saw it. The
image run's folds, each field's cells, each cell-model fold and the maps are kept on disk
as they finish and read back on a rerun; scoring and the report are redone. A field whose
image or mask changed since is segmented and cropped again, and every cell-model fold and
the maps made from the old cells are redone (their stamp is the cells' print).

Memory: the crops stay on disk (read in batches for training, scoring and the maps) and a
field's mask is read when that field is scored; what is held grows with the cells only
by their scores (4 bytes per class and method) and flags, not with the fields' pixels.
"""

from __future__ import annotations

import csv
import json
import os
import time

import numpy as np

from gapnet.single_cell.settings import (  # noqa: F401 (SingleCellConfig: the public name)
    STAGES,
    SingleCellConfig,
    check_run_config,
)


def _image_config(cfg: SingleCellConfig, root: str):
    from gapnet.config import Config

    return Config.from_dict(
        {
            "data": root,
            "verbose": 0,
            "scheme": cfg.scheme,
            "image_size": cfg.image_size,
            "pixel_size": cfg.pixel_size,
        },
        base=Config.synthetic_default(cfg.image_epochs),
    )


class AtlasTruth:
    """The atlas's true cells, one field at a time: `truth[n]` is (cells label image,
    (k, C) bool labels) of field `ids[n]`, read from `truth/` when asked."""

    def __init__(self, root: str, ids, n_classes: int):
        self.root, self.ids, self.n_classes = root, list(ids), n_classes
        self.shows: dict = {}
        with open(os.path.join(root, "truth", "cells.csv"), newline="") as f:
            for r in csv.DictReader(f):
                self.shows.setdefault(r["Id"], []).append((int(r["cell"]), r["labels"]))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, n: int):
        from gapnet.segment import read_mask

        sid = self.ids[n]
        cells = read_mask(os.path.join(self.root, "truth", f"{sid}_cells.png"))
        labels = np.zeros((int(cells.max()), self.n_classes), bool)
        for cell, ks in self.shows.get(sid, []):
            labels[cell - 1, [int(k) for k in ks.split()]] = True
        return cells, labels


def run_single_cell(cfg: SingleCellConfig, out: str, log=print, force: bool = False) -> dict:
    """Runs (or resumes) the job into `out` and returns results.json's content. A folder
    started with other settings is refused (`check_run_config`) unless `force`, which
    redoes the stages those settings feed."""
    from gapnet.cv.kfold import run_kfold
    from gapnet.cv.runfolder import read_predictions
    from gapnet.data.cache import open_reader
    from gapnet.data.prepare import resolve_data
    from gapnet.data.source import open_source
    from gapnet.io import atomic_write_text, read_json
    from gapnet.schemes import get_scheme
    from gapnet.single_cell import evaluate as ev
    from gapnet.single_cell.cell_build import cell_set
    from gapnet.single_cell.cell_maps import cached_map_scores
    from gapnet.single_cell.cell_model import cross_fit
    from gapnet.single_cell.field_pass import score_fields
    from gapnet.single_cell.metric import CONVENTIONS, pooled_map
    from gapnet.single_cell.scores import ALTERNATIVES, METHODS

    check_run_config(out, cfg, force)
    sc = get_scheme(cfg.scheme)
    seconds = {}
    t = time.perf_counter()
    from gapnet.config import Config

    atlas = Config(
        data=cfg.data,
        synthetic_n=cfg.synthetic_n,
        synthetic_size=cfg.synthetic_size,
        synthetic_seed=cfg.synthetic_seed,
        synthetic_variability=cfg.variability,
        scheme=cfg.scheme,
    )
    root, synthetic = resolve_data(atlas, log)
    img_cfg = _image_config(cfg, root)
    run_dir = os.path.join(out, "image_run")
    log(f"image model: {img_cfg.model} at {img_cfg.image_size} px, {img_cfg.folds} folds")
    run_kfold(img_cfg, run_dir, log=log)
    seconds["image_model"] = time.perf_counter() - t
    src = open_source(root, scheme=cfg.scheme)
    oof_ids, oof = read_predictions(os.path.join(run_dir, "oof_predictions.csv"))
    with open(os.path.join(run_dir, "folds.csv"), newline="") as f:
        fold_of = {r["Id"]: int(r["fold"]) for r in csv.DictReader(f)}
    ids = list(oof_ids)
    image_p = oof
    folds = np.array([fold_of[i] for i in ids])
    row = {i: n for n, i in enumerate(src.labels.ids)}
    targets = src.labels.targets[[row[i] for i in ids]]

    t = time.perf_counter()
    cs = cell_set(
        src.image_dir,
        ids,
        os.path.join(out, "cells"),
        cfg.cell.crop_size,
        cfg.masks,
        cfg.nucleus_diameter,
        src.ext,
        log,
        workers=cfg.workers,
    )
    seconds["cells"] = time.perf_counter() - t
    t = time.perf_counter()
    field_targets = targets.astype(np.float32)
    cell_p = cross_fit(
        cs,
        lambda cells: field_targets[cs.cell_fields(cells)],
        folds[cs.cell_fields()],
        cfg.cell,
        log,
        os.path.join(out, "cell_model"),
        stamp=cs.print,
    )
    seconds["cell_model"] = time.perf_counter() - t
    map_p = None
    if cfg.maps:
        t = time.perf_counter()
        reader = open_reader(src, ids, img_cfg.image_size, "auto", log=lambda *a: None)
        maps_dir = os.path.join(out, "maps")
        map_p = cached_map_scores(maps_dir, run_dir, reader, ids, folds, image_p, cs, log)
        seconds["maps"] = time.perf_counter() - t

    negative = None if sc.negative is None else (sc.negative, cfg.negative)
    policy = dict(edge_weight=cfg.edge_weight, negative=negative)
    result = {
        "data": "synthetic atlas (not HPA scores)" if synthetic else "real data",
        "synthetic": synthetic,
        "root": root,
        "scheme": sc.name,
        "n_images": len(ids),
        "n_cells": cs.n_cells,
        "n_edge_cells": int(cs.edge.sum()),
        "mask_sources": cs.sources,
        "policy": {"edge_weight": cfg.edge_weight, "negative": cfg.negative},
        "draw": (
            {
                "seed": cfg.synthetic_seed,
                "n": cfg.synthetic_n,
                "size": cfg.synthetic_size,
                "variability": cfg.variability,
            }
            if cfg.data is None
            else None
        ),
        "threshold_rule": "mAP@0.6: none (ranking); per-cell macro-F1: per-class F1 search "
        "(0.01 grid) cross-fitted by image fold, and tuned on the scored cells (optimistic)",
        "image_model_macro_f1": read_json(os.path.join(run_dir, "metrics.json"))["macro_f1"],
    }
    has_truth = os.path.isfile(os.path.join(root, "truth", "cells.csv"))
    variants = {}
    if has_truth:  # the two policies, each switched on alone for image_x_cell
        other_edge = 0.5 if cfg.edge_weight == 1.0 else 1.0
        variants = {"edge_weight": {"edge_weight": other_edge}}
        result["policy_variants"] = {"edge_weight": other_edge}
        if negative is not None:
            other = "none_of" if cfg.negative == "model" else "model"
            variants["negative"] = {"negative": (sc.negative, other)}
            result["policy_variants"]["negative"] = other
    t = time.perf_counter()
    truth = AtlasTruth(root, ids, sc.n_classes) if has_truth else None
    scored = score_fields(
        cs, image_p, cell_p, map_p, policy, variants, truth, folds, os.path.join(out, "cells.csv")
    )
    if has_truth:
        methods = [m for m in METHODS + ALTERNATIVES if m in scored["hits"]]
        result.update(ev.map_table({m: scored["hits"][m] for m in methods}))
        for name in variants:  # points only: a policy is judged on them
            for conv in CONVENTIONS:
                h = scored["hits"][f"image_x_cell/{name}"]
                result["map"][f"image_x_cell/{name}/{conv}"] = pooled_map(h, conv)["map"]
        y, image = scored["matched_labels"], scored["matched_image"]
        result["cell_f1"] = {
            m: ev.cell_f1(y, scored["matched_scores"][m], image, folds) for m in methods
        }
        result["n_cells_matched"] = int(len(y))
        result["n_true_cells"] = scored["n_true_cells"]
        seconds["scoring"] = time.perf_counter() - t
    result["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    atomic_write_text(os.path.join(out, "results.json"), json.dumps(result, indent=1))
    _report(out, result, src, cs, scored["examples"], log)
    return result


def _report(out, result, src, cs, scores, log) -> None:
    """The report, with the first fields' cells as per-cell examples (their image x cell
    scores: `scores`)."""
    from gapnet.data.images import read_sample
    from gapnet.single_cell.cell_set import native_size
    from gapnet.single_cell.report import write_report

    picks = list(range(len(scores)))
    images = [
        read_sample(
            src.image_dir, cs.ids[n], native_size(src.image_dir, cs.ids[n], src.ext), src.ext
        )
        for n in picks
    ]
    examples = (images, [cs.mask(n) for n in picks], scores, [cs.ids[n][:12] for n in picks])
    log(f"report: {write_report(out, result, examples)}")
