"""Embeddings of a run's samples and of the explained cells: the penultimate features, a
2-D map (UMAP, or PCA where umap-learn is missing or the points are too few), written as
`embeddings.npz`, `embeddings.h5ad` and `cells.h5ad` (AnnData) and `embedding.png`.

The AnnData files follow SubCell's `embeddings.h5ad` (X the embedding, one row per image or
cell, obsm["probabilities"] the class probabilities) and scanpy's conventions
(obsm["X_umap"]), with more metadata: obs the ids (`Id`, `cell`), the image id, well and
plate where the id names them (HPA's `<plate>_<n>_<well>_<field>`), the data's origin, the
labels and calls; var the feature names (`feat0000` ...) and the layer each comes from;
uns the run, model, scheme and class names. docs/export.md lines it up with SubCell's.
"""

from __future__ import annotations

import csv
import os
import re

import numpy as np

from gapnet.explain import figures

MIN_UMAP = 10  # fewer points than this: PCA (UMAP's neighbour graph needs a few)


def two_d(feats: np.ndarray) -> tuple[np.ndarray, str]:
    """(n, 2) map of (n, C) features and the method used: "UMAP" (umap-learn, 15
    neighbours or n - 1, seed 0) when it imports and there are at least `MIN_UMAP` points,
    else "PCA" (scikit-learn); zeros for fewer than 2 points or features."""
    feats = np.asarray(feats, np.float32)
    n = len(feats)
    if n < 2 or feats.ndim != 2 or feats.shape[1] < 2:
        return np.zeros((n, 2), np.float32), "none"
    if n >= MIN_UMAP:
        try:
            import umap
        except ImportError:
            umap = None
        if umap is not None:
            reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=0)
            return reducer.fit_transform(feats).astype(np.float32), "UMAP"
    from sklearn.decomposition import PCA

    return PCA(2, random_state=0).fit_transform(feats).astype(np.float32), "PCA"


def _labels_text(rows) -> list[str]:
    return [" ".join(map(str, np.flatnonzero(r).tolist())) for r in rows]


def well_plate(image_id: str) -> tuple[str, str]:
    """(well, plate) of an HPA image id `<plate>_<n>_<well>_<field>` (e.g. 10814_50_A1_1,
    HPAv18), else ("", ""): a Kaggle UUID names neither."""
    m = re.fullmatch(r"(\d+)_\d+_([A-Z]\d{1,2})_\d+", str(image_id))
    return (m.group(2), m.group(1)) if m else ("", "")


def write_h5ad(
    path: str,
    x: np.ndarray,
    obs: dict,
    xy: np.ndarray,
    method: str,
    probs: np.ndarray | None = None,
    uns: dict | None = None,
    var: dict | None = None,
    index=None,
    var_names=None,
) -> None:
    """An AnnData file: X the features, `obs` the per-row columns (strings, numbers),
    obs_names `index` (default 0..n-1), `obsm["X_2d"]` the 2-D map (also `X_umap` when it
    is UMAP, scanpy's key), `obsm["probabilities"]` (SubCell's key) when given, var
    `var_names` (default `feat0000`...) with `var`'s columns, `uns["embedding_method"]` and
    `uns`."""
    import anndata
    import pandas as pd

    frame = pd.DataFrame(obs)
    n = len(np.asarray(x))
    frame.index = [str(i) for i in (range(n) if index is None else index)]
    obsm = {"X_2d": np.asarray(xy, np.float32)}
    if method == "UMAP":
        obsm["X_umap"] = obsm["X_2d"]
    if probs is not None:
        obsm["probabilities"] = np.asarray(probs, np.float32)
    dim = np.asarray(x).shape[1] if np.asarray(x).ndim == 2 else 0
    names = list(var_names) if var_names is not None else [f"feat{i:04d}" for i in range(dim)]
    features = pd.DataFrame(var or {}, index=names)
    ad = anndata.AnnData(X=np.asarray(x, np.float32), obs=frame, obsm=obsm, var=features)
    ad.uns["embedding_method"] = method
    for k, v in (uns or {}).items():
        ad.uns[k] = v
    tmp = path + ".tmp"
    ad.write_h5ad(tmp)
    os.replace(tmp, path)


def _layers(explainer) -> list[str]:
    """The tap (pooling layer) each penultimate feature comes from, in feature order."""
    n = len(explainer.tap_names)
    widths = [int(t.shape[-1]) for t in explainer.probe.outputs[n:]]
    return [name for name, w in zip(explainer.tap_names, widths, strict=True) for _ in range(w)]


def model_features(explainers, compute) -> np.ndarray:
    """Every fold model's features side by side, `[f_0 | f_1 | ...]`: the same function for
    every row, whichever fold scored it (one fold model's features alone would put each
    sample in that model's own feature space, and the map would cluster by fold)."""
    return np.concatenate([np.asarray(compute(e), np.float32) for e in explainers], axis=-1)


def _var(explainers, layers: list[str]) -> tuple[list[str], dict]:
    """var names `m<k>_feat0000`... and columns (`model` the fold model, `layer`) of
    features `model_features` computes, `layers` one model's layer per feature."""
    names, model, layer = [], [], []
    for k in range(len(explainers)):
        names += [f"m{k}_feat{i:04d}" for i in range(len(layers))]
        model += [k] * len(layers)
        layer += list(layers)
    return names, {"model": model, "layer": layer}


def _cells_csv(out: str) -> dict:
    """{(Id, cell): cells.csv row} of the explain job's cells.csv (written before this)."""
    path = os.path.join(out, "cells.csv")
    if not os.path.isfile(path):
        return {}
    with open(path, newline="") as f:
        return {(r["Id"], int(r["cell"])): r for r in csv.DictReader(f)}


def run_uns(run: str | None, n_classes: int, origin: str) -> dict:
    """uns of the AnnData files: the run, its model and scheme, the class names."""
    from gapnet.io import read_json
    from gapnet.schemes import scheme_of_width

    scheme = scheme_of_width(n_classes)
    cfg = {}
    if run and os.path.isfile(os.path.join(run, "config.json")):
        cfg = read_json(os.path.join(run, "config.json"))
    return {
        "created_by": "gapnet explain",
        "run": os.path.abspath(run) if run else "",
        "model": str(cfg.get("model", "")),
        "scheme": scheme.name,
        "class_names": list(scheme.classes),
        "origin": origin,
    }


def write_embeddings(
    out, explainers, reader, ids, y, probs, thr, fold_of, cell_feats, run=None, origin=""
) -> dict:
    """Penultimate features (the pooled taps the head reads) of every sample by every fold
    model, side by side (`model_features`; `fold_of` is not used for them), and their 2-D
    map, coloured by label; per cell of the explained samples, the last tap's feature map
    averaged inside the cell by every fold model, side by side (`cell_ids` "Id:cell",
    `cell_features`), with its own 2-D map. cell_feats: (Id, cell, features, labels called
    in the cell). `run` and `origin` (where the explained images come from) go into the
    AnnData files."""
    from gapnet.progress import track

    feats = []
    with track(len(ids), "embedding") as bar:
        for n in range(len(ids)):
            image = reader(n)[None]
            feats.append(model_features(explainers, lambda e, x=image: e.features(x)[0]))
            bar.update()
    feats = np.stack(feats).astype(np.float32)
    xy, method = two_d(feats)
    cell_ids = np.asarray([f"{sid}:{c}" for sid, c, _, _ in cell_feats])
    cell_features = (
        np.stack([f for _, _, f, _ in cell_feats]) if cell_feats else np.zeros((0, 0), np.float32)
    )
    cell_xy, cell_method = two_d(cell_features)
    np.savez_compressed(
        os.path.join(out, "embeddings.npz"),
        ids=np.asarray(ids),
        features=feats,
        xy=xy,
        method=np.asarray(method),
        targets=y.astype(np.uint8),
        cell_ids=cell_ids,
        cell_features=cell_features,
        cell_xy=cell_xy,
        cell_method=np.asarray(cell_method),
    )
    from gapnet.cv.submission import decide

    predicted = decide(probs, thr, "none")
    uns = {
        **run_uns(run, probs.shape[1], origin),
        "embedding_model": f"all {len(explainers)} fold models' features side by side "
        "(var 'model'), the same for every row",
    }
    wells = [well_plate(i) for i in ids]
    layers = _layers(explainers[0])
    names, var = _var(explainers, layers)
    ok = len(names) == feats.shape[1]
    write_h5ad(
        os.path.join(out, "embeddings.h5ad"),
        feats,
        {
            "Id": list(ids),
            "image_id": list(ids),
            "well": [w for w, _ in wells],
            "plate": [p for _, p in wells],
            "origin": [origin] * len(ids),
            "labels": _labels_text(y),
            "predicted": [" ".join(map(str, p)) for p in predicted],
        },
        xy,
        method,
        probs=probs,
        uns={**uns, "level": "image"},
        var=var if ok else None,
        index=list(ids),
        var_names=names if ok else None,
    )
    if cell_feats:
        row = {sid: n for n, sid in enumerate(ids)}
        table = _cells_csv(out)
        rows = [table.get((sid, int(c)), {}) for sid, c, _, _ in cell_feats]
        k = probs.shape[1]
        cell_probs = np.asarray(
            [[float(r.get(f"p_{j}", "nan")) for j in range(k)] for r in rows], np.float32
        )
        cw = [well_plate(sid) for sid, _, _, _ in cell_feats]
        width = cell_features.shape[1] // len(explainers)
        cell_names, cell_var = _var(explainers, [explainers[0].tap_names[-1]] * width)
        write_h5ad(
            os.path.join(out, "cells.h5ad"),
            cell_features,
            {
                "Id": [sid for sid, _, _, _ in cell_feats],
                "cell": [int(c) for _, c, _, _ in cell_feats],
                "image_id": [sid for sid, _, _, _ in cell_feats],
                **{
                    col: [float(r.get(col, "nan")) for r in rows]
                    for col in ("x", "y", "area", "edge")
                },
                "well": [w for w, _ in cw],
                "plate": [p for _, p in cw],
                "origin": [origin] * len(cell_feats),
                "image_labels": [_labels_text(y[[row[sid]]])[0] for sid, _, _, _ in cell_feats],
                "predicted": [" ".join(map(str, ls)) for _, _, _, ls in cell_feats],
            },
            cell_xy,
            cell_method,
            probs=cell_probs,
            uns={**uns, "level": "cell", "probabilities": "per-cell scores p_ck of cells.csv"},
            var=cell_var,
            index=[f"{sid}:{c}" for sid, c, _, _ in cell_feats],
            var_names=cell_names,
        )
    figures.embedding_figure(os.path.join(out, "embedding.png"), xy, y, method)
    return {
        "file": "embeddings.npz",
        "anndata": ["embeddings.h5ad"] + (["cells.h5ad"] if cell_feats else []),
        "figure": "embedding.png",
        "method": method,
        "cell_method": cell_method,
        "n": len(ids),
        "dim": int(feats.shape[1]),
        "cells": len(cell_feats),
    }
