"""The job's scoring, one field at a time: each field's per-cell scores of every method
(`scores.method_scores`), its lines of RUN/cells.csv, and (with true cells) its hits per
method and policy variant and its predicted cells matched to true ones, so that no
field's mask stays in memory after its turn (`gapnet.single_cell.run`)."""

from __future__ import annotations

import numpy as np

N_EXAMPLES = 3  # fields whose image x cell scores the report shows


def score_fields(
    cs, image_p, cell_p, map_p, policy, variants, truth, folds, csv_path, iou: float = 0.6
) -> dict:
    """Scores every field of the `CellCache` cs and writes cells.csv (Id, cell 1..k,
    mask_label, edge, fold, image_x_cell's C scores) atomically.

    Args:
        image_p: (n_fields, C) image probabilities; cell_p, map_p: (n_cells, C) or None.
        policy: `method_scores`' edge_weight and negative; variants: {name: a change of
            it} scored for image_x_cell alone (hits only).
        truth: None, or a sequence of (true cells, (k, C) labels) per field.

    Returns {"hits": {method or image_x_cell/<variant>: per-field image_hits},
    "matched_scores": {method: (m, C)}, "matched_labels" (m, C) bool, "matched_image"
    (m,), "n_true_cells", "examples": the first fields' image x cell scores}.
    """
    from gapnet.io import atomic_open
    from gapnet.segment.match import match
    from gapnet.single_cell.metric import image_hits
    from gapnet.single_cell.scores import method_scores

    n_classes = image_p.shape[1]
    hits: dict = {}
    matched: dict = {}
    labels, image, n_true, examples = [], [], 0, []
    with atomic_open(csv_path) as f:
        f.write("Id,cell,mask_label,edge,fold," + ",".join(f"p_{k}" for k in range(n_classes)))
        f.write("\n")
        for n, sid in enumerate(cs.ids):
            r = cs.rows(n)
            k = r.stop - r.start
            a = np.repeat(image_p[n][None], k, 0)
            m = None if map_p is None else map_p[r]
            s = method_scores(a, cell_p[r], m, edge=cs.edge[r], **policy)
            best = s["image_x_cell"]
            for j in range(k):
                vals = ",".join(f"{v:.5g}" for v in best[j])
                f.write(f"{sid},{j + 1},{cs.labels[r][j]},{int(cs.edge[r][j])},")
                f.write(f"{folds[n]},{vals}\n")
            if n < N_EXAMPLES:
                examples.append(best)
            if truth is None:
                continue
            t_cells, t_labels = truth[n]
            cells = cs.mask(n)
            n_true += len(t_labels)
            for name, sc in s.items():
                hits.setdefault(name, []).append(image_hits(t_cells, t_labels, cells, sc, iou))
            for name, change in variants.items():
                v = method_scores(a, cell_p[r], None, edge=cs.edge[r], **{**policy, **change})
                h = image_hits(t_cells, t_labels, cells, v["image_x_cell"], iou)
                hits.setdefault(f"image_x_cell/{name}", []).append(h)
            pairs = match(cells, t_cells, iou).pairs
            for _, t in pairs:
                labels.append(np.asarray(t_labels[t - 1], bool))
                image.append(n)
            idx = np.asarray([p - 1 for p, _ in pairs], np.int64)
            for name, sc in s.items():
                matched.setdefault(name, []).append(sc[idx].astype(np.float32))
    return {
        "hits": hits,
        "matched_scores": {m: np.concatenate(v).astype(np.float64) for m, v in matched.items()},
        "matched_labels": np.asarray(labels, bool).reshape(-1, n_classes),
        "matched_image": np.asarray(image, np.int64),
        "n_true_cells": int(n_true),
        "examples": examples,
    }
