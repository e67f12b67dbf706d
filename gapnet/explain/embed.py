"""Embeddings of a run's samples and of the explained cells: the penultimate features, a
2-D map (UMAP, or PCA where umap-learn is missing or the points are too few), written as
`embeddings.npz`, `embeddings.h5ad` and `cells.h5ad` (AnnData) and `embedding.png`."""

from __future__ import annotations

import os

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


def write_h5ad(path: str, x: np.ndarray, obs: dict, xy: np.ndarray, method: str) -> None:
    """An AnnData file: X the features, `obs` the per-row columns (strings, numbers),
    `obsm["X_2d"]` the 2-D map, `uns["embedding_method"]` how it was made."""
    import anndata
    import pandas as pd

    frame = pd.DataFrame(obs)
    frame.index = [str(i) for i in range(len(frame))]
    ad = anndata.AnnData(
        X=np.asarray(x, np.float32), obs=frame, obsm={"X_2d": np.asarray(xy, np.float32)}
    )
    ad.uns["embedding_method"] = method
    tmp = path + ".tmp"
    ad.write_h5ad(tmp)
    os.replace(tmp, path)


def write_embeddings(out, explainers, reader, ids, y, probs, thr, fold_of, cell_feats) -> dict:
    """Penultimate features (the pooled taps the head reads) of every sample by its fold
    model and their 2-D map, coloured by label; per cell of the explained samples, the last
    tap's feature map averaged inside the cell (`cell_ids` "Id:cell", `cell_features`),
    with its own 2-D map. cell_feats: (Id, cell, features, labels called in the cell)."""
    from gapnet.progress import track

    feats = []
    with track(len(ids), "embedding") as bar:
        for n, sid in enumerate(ids):
            fold = fold_of[sid]
            e = explainers[0 if fold is None else fold]
            feats.append(e.features(reader(n)[None])[0])
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
    write_h5ad(
        os.path.join(out, "embeddings.h5ad"),
        feats,
        {
            "Id": list(ids),
            "labels": _labels_text(y),
            "predicted": [" ".join(map(str, p)) for p in predicted],
        },
        xy,
        method,
    )
    if cell_feats:
        row = {sid: n for n, sid in enumerate(ids)}
        write_h5ad(
            os.path.join(out, "cells.h5ad"),
            cell_features,
            {
                "Id": [sid for sid, _, _, _ in cell_feats],
                "cell": [int(c) for _, c, _, _ in cell_feats],
                "image_labels": [_labels_text(y[[row[sid]]])[0] for sid, _, _, _ in cell_feats],
                "predicted": [" ".join(map(str, ls)) for _, _, _, ls in cell_feats],
            },
            cell_xy,
            cell_method,
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
