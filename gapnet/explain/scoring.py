"""What the explain job scores and calls: the fold models' probabilities of the samples
explained (`probabilities`, averaged over the models, only the rows asked for when a few
samples are named), the classes a row calls (`called`: p > t strictly, as
`gapnet.cv.submission.decide`), and the gallery's picks (`gallery_picks`: per class the
highest-scoring true and false positives). Used by `gapnet.explain.run_explain`.
"""

from __future__ import annotations

import numpy as np

from gapnet.cv.submission import decide
from gapnet.progress import track


def called(probs, thr) -> np.ndarray:
    """(n, C) bool: the classes each row calls, p > t (`decide`, no fallback)."""
    out = np.zeros(np.shape(probs), bool)
    for n, row in enumerate(decide(probs, thr, "none")):
        out[n, row] = True
    return out


def gallery_picks(ids, y, probs, thr, per_class: int) -> list[tuple[int, str, str]]:
    """(class, kind, Id): the `per_class` highest-probability true and false positives."""
    picks = []
    calls = called(probs, thr)
    for k in range(np.shape(probs)[1]):
        called_k = calls[:, k]
        for kind, sel in (
            ("true positive", called_k & (y[:, k] > 0)),
            ("false positive", called_k & (y[:, k] == 0)),
        ):
            idx = np.flatnonzero(sel)
            for i in idx[np.argsort(-probs[idx, k])][:per_class]:
                picks.append((k, kind, ids[i]))
    return picks


def probabilities(explainers, reader, n: int, rows=None, batch: int = 16) -> np.ndarray:
    """(n, C) probabilities of the reader's samples, averaged over the explainers; with
    `rows`, only those rows are computed (the others are NaN)."""
    rows = np.arange(n) if rows is None else np.asarray(rows, int)
    out = None
    with track(len(rows), "scoring") as bar:
        for start in range(0, len(rows), batch):
            part = rows[start : start + batch]
            p = np.mean(
                [e.probabilities(np.stack([reader(j) for j in part])) for e in explainers], 0
            )
            if out is None:
                out = np.full((n, p.shape[1]), np.nan, np.float32)
            out[part] = p
            bar.update(len(part))
    return out
