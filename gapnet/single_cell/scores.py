"""Per-cell scores of the four methods from the image, cell and map probabilities. Pure.

Every method gives each (cell, class) a confidence:
- `image`: the image's probability, the same for every cell of the field (the 2021
  baseline: an image-level classifier applied to each segmented cell);
- `maps`: explain's calls from the image model's class maps, p_k * min(r_k, 1)
  (`gapnet.explain.cells.cell_calls`);
- `cell`: the cell model's probability of the cell's masked crop;
- `image_x_cell`: image x cell (the 1st, 8th, 12th and 21st 2021 entries); and
  `image_mean_cell`, their mean, the alternative the 12th measured against.

Two policies of the 2021 write-up, each a switch measured by the benchmark:
- `edge_weight`: the scores of cells the field's border cuts, multiplied by it (1: off).
- `negative` (2021 scheme): "model", Negative's score as the method's own Negative
  column; or "none_of", the probability that the cell shows none of the 18 locations,
  prod_k (1 - s_k) over the method's location scores (Negative handled apart from the
  classifier's own Negative output).
"""

from __future__ import annotations

import numpy as np

METHODS = ("image", "maps", "cell", "image_x_cell")
ALTERNATIVES = ("image_mean_cell",)
NEGATIVE_RULES = ("model", "none_of")


def method_scores(image_p, cell_p, map_p=None, edge=None, edge_weight=1.0, negative=None):
    """{method: (n_cells, C) scores} for one field or many (rows aligned).

    Args:
        image_p: (n, C) each cell's image probabilities (its field's row repeated).
        cell_p: (n, C) the cell model's probabilities.
        map_p: (n, C) map-based scores, or None (then no `maps` entry).
        edge: (n,) bool, cells the border cuts; edge_weight multiplies their scores.
        negative: None (a scheme without Negative) or (index, rule) with rule in
            NEGATIVE_RULES.
    """
    from gapnet.single_cell.cell_model import combine

    a, b = np.asarray(image_p, np.float64), np.asarray(cell_p, np.float64)
    out = {
        "image": a,
        "cell": b,
        "image_x_cell": combine(a, b, "product"),
        "image_mean_cell": combine(a, b, "mean"),
    }
    if map_p is not None:
        out["maps"] = np.asarray(map_p, np.float64)
    if negative is not None:
        k, rule = negative
        if rule not in NEGATIVE_RULES:
            raise ValueError(f"negative rule must be one of {NEGATIVE_RULES}, not {rule!r}")
        if rule == "none_of":
            for m, s in out.items():
                s = s.copy()
                s[:, k] = np.prod(1 - np.delete(s, k, axis=1), axis=1)
                out[m] = s
    if edge is not None and edge_weight != 1.0:
        w = np.where(np.asarray(edge, bool), edge_weight, 1.0)[:, None]
        out = {m: s * w for m, s in out.items()}
    return out
