"""The single-cell job: image model, cells, cell model, the four methods' per-cell scores,
and (when the data has true cells) their mAP@0.6 and per-cell macro-F1, into a run folder.

    RUN/single_cell.json   the resolved SingleCellConfig
    RUN/image_run/         the image model: a gapnet K-fold run (`gapnet.cv.kfold`)
    RUN/cells/<Id>.npz     each field's cells and uint8 crops (`cell_set`)
    RUN/cell_model/        fold_<k>.keras and fold_<k>.npy (its out-of-fold cell scores)
    RUN/maps.npy           map-based scores of every cell (explain's rule)
    RUN/cells.csv          per cell: Id, cell, mask_label, edge, fold, image_x_cell's scores
    RUN/results.json       every figure (synthetic data: labelled so)
    RUN/report/            report.md and report.html (`gapnet.single_cell.report`)

Cross-fitting: the image model's folds (multilabel-stratified over images) are the cell
model's, so a field's cells are scored by a cell model that never trained on any cell of
that field, and its image probabilities come from the fold model that never saw it. The
image run's folds, each field's cells, each cell-model fold and the maps are kept on disk
as they finish and read back on a rerun; scoring and the report are redone.
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
        {"data": root, "verbose": 0, "scheme": cfg.scheme, "image_size": cfg.image_size},
        base=Config.synthetic_default(cfg.image_epochs),
    )


def atlas_truth(root: str, ids, n_classes: int) -> list:
    """[(cells label image, (n, C) bool labels)] per Id from an atlas's `truth/` folder."""
    from gapnet.segment import read_mask

    shows: dict = {}
    with open(os.path.join(root, "truth", "cells.csv"), newline="") as f:
        for r in csv.DictReader(f):
            shows.setdefault(r["Id"], {})[int(r["cell"])] = [int(k) for k in r["labels"].split()]
    out = []
    for sid in ids:
        cells = read_mask(os.path.join(root, "truth", f"{sid}_cells.png"))
        labels = np.zeros((int(cells.max()), n_classes), bool)
        for cell, ks in shows.get(sid, {}).items():
            labels[cell - 1, ks] = True
        out.append((cells, labels))
    return out


def map_scores(image_run, reader, ids, folds, image_p, cs, batch: int = 16) -> np.ndarray:
    """(n_cells, C) explain's per-cell scores (gradient x input maps of each field's own
    fold model; `cell_calls`' p_k * min(r_k, 1)), every class mapped."""
    from gapnet.cv.submission import fold_models
    from gapnet.explain.cells import cell_calls
    from gapnet.explain.maps import Explainer, class_maps
    from gapnet.training.predict import load_model

    explainers = [Explainer(load_model(p, compile=False)) for p in fold_models(image_run)]
    every = list(range(image_p.shape[1]))
    thr = np.full(len(every), 0.5)  # the scores do not threshold
    out = np.zeros((len(cs.crops), len(every)), np.float32)
    for k in sorted(set(np.asarray(folds).tolist())):
        fields = np.flatnonzero(np.asarray(folds) == k)
        for start in range(0, len(fields), batch):  # a batch of fields per gradient call
            chunk = fields[start : start + batch]
            x = np.stack([reader(int(n)) for n in chunk])
            maps = class_maps(explainers[k], x, every, method="input_gradient")
            for n, m in zip(chunk, maps, strict=True):
                out[cs.rows(n)] = cell_calls(image_p[n], thr, m, every, cs.masks[n])[0]
    return out


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
    from gapnet.single_cell.cell_model import cross_fit
    from gapnet.single_cell.cell_set import cell_set
    from gapnet.single_cell.metric import CONVENTIONS, pooled_map
    from gapnet.single_cell.scores import ALTERNATIVES, METHODS, method_scores

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
    )
    seconds["cells"] = time.perf_counter() - t
    t = time.perf_counter()
    cell_targets = targets[cs.image_of].astype(np.float32)
    cell_p = cross_fit(
        cs.crops, cell_targets, folds[cs.image_of], cfg.cell, log, os.path.join(out, "cell_model")
    )
    seconds["cell_model"] = time.perf_counter() - t
    map_p = None
    if cfg.maps:
        t = time.perf_counter()
        path = os.path.join(out, "maps.npy")
        if os.path.isfile(path) and np.load(path, mmap_mode="r").shape == cell_p.shape:
            map_p = np.load(path)
        else:
            log("maps: gradient x input of each field's own fold model")
            reader = open_reader(src, ids, img_cfg.image_size, "auto", log=lambda *a: None)
            map_p = map_scores(run_dir, reader, ids, folds, image_p, cs)
            np.save(path + ".tmp.npy", map_p)
            os.replace(path + ".tmp.npy", path)
        seconds["maps"] = time.perf_counter() - t

    negative = None if sc.negative is None else (sc.negative, cfg.negative)
    policy = dict(edge=cs.edge, edge_weight=cfg.edge_weight, negative=negative)
    scores = method_scores(image_p[cs.image_of], cell_p, map_p, **policy)
    _write_cells(os.path.join(out, "cells.csv"), cs, folds, scores["image_x_cell"], cfg.masks)
    result = {
        "data": "synthetic atlas (not HPA scores)" if synthetic else "real data",
        "synthetic": synthetic,
        "root": root,
        "scheme": sc.name,
        "n_images": len(ids),
        "n_cells": int(len(cs.crops)),
        "n_edge_cells": int(cs.edge.sum()),
        "mask_sources": sorted(set(s.split(",")[0] for s in cs.sources)),
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
    if has_truth:
        t = time.perf_counter()
        truth = atlas_truth(root, ids, sc.n_classes)
        rows = [cs.rows(n) for n in range(len(ids))]
        methods = [m for m in METHODS + ALTERNATIVES if m in scores]
        hits = {m: ev.hits_of(truth, cs.masks, scores[m], rows) for m in methods}
        # the two policies, each switched on alone for image_x_cell
        other_edge = 0.5 if cfg.edge_weight == 1.0 else 1.0
        variants = {"edge_weight": {"edge_weight": other_edge}, "negative": {}}
        if negative is not None:
            other = "none_of" if cfg.negative == "model" else "model"
            variants["negative"] = {"negative": (sc.negative, other)}
            result["policy_variants"] = {"edge_weight": other_edge, "negative": other}
        else:
            result["policy_variants"] = {"edge_weight": other_edge}
        result.update(ev.map_table(hits))
        for name, change in variants.items():  # points only: a policy is judged on them
            if change:
                s = method_scores(image_p[cs.image_of], cell_p, None, **{**policy, **change})
                h = ev.hits_of(truth, cs.masks, s["image_x_cell"], rows)
                for conv in CONVENTIONS:
                    result["map"][f"image_x_cell/{name}/{conv}"] = pooled_map(h, conv)["map"]
        idx, y, image = ev.matched_cells(truth, cs.masks, rows)
        result["cell_f1"] = {m: ev.cell_f1(y, scores[m][idx], image, folds) for m in methods}
        result["n_cells_matched"] = int(len(idx))
        result["n_true_cells"] = int(sum(len(lab) for _, lab in truth))
        seconds["scoring"] = time.perf_counter() - t
    result["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    atomic_write_text(os.path.join(out, "results.json"), json.dumps(result, indent=1))
    _report(out, result, src, cs, scores["image_x_cell"], log)
    return result


def _report(out, result, src, cs, scores, log, n_examples: int = 3) -> None:
    """The report, with the first `n_examples` fields as per-cell examples."""
    from gapnet.data.images import read_sample
    from gapnet.single_cell.cell_set import native_size
    from gapnet.single_cell.report import write_report

    picks = list(range(min(n_examples, len(cs.ids))))
    images = [
        read_sample(
            src.image_dir, cs.ids[n], native_size(src.image_dir, cs.ids[n], src.ext), src.ext
        )
        for n in picks
    ]
    examples = (
        images,
        [cs.masks[n] for n in picks],
        [scores[cs.rows(n)] for n in picks],
        [cs.ids[n][:12] for n in picks],
    )
    log(f"report: {write_report(out, result, examples)}")


def _write_cells(path, cs, folds, scores, masks=None) -> None:
    """cells.csv: Id, cell (1..k, the crops' order), mask_label (the mask file's own
    label; = cell for gapnet's segmentation), edge, fold, then the C scores."""
    from gapnet.io import atomic_write_text
    from gapnet.single_cell.cell_set import mask_labels

    head = "Id,cell,mask_label,edge,fold," + ",".join(f"p_{k}" for k in range(scores.shape[1]))
    lines = [head]
    for n, sid in enumerate(cs.ids):
        r = cs.rows(n)
        own = mask_labels(masks, sid, r.stop - r.start)
        for j, (e, s) in enumerate(zip(cs.edge[r], scores[r], strict=True)):
            vals = ",".join(f"{v:.5g}" for v in s)
            lines.append(f"{sid},{j + 1},{own[j]},{int(e)},{folds[n]},{vals}")
    atomic_write_text(path, "\n".join(lines) + "\n")
