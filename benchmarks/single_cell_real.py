"""The single-cell job on real HPA 2021 fields, end to end: their layout and size, the
reference cell masks and gapnet's own, the 2021 submission written and decoded back, and
(a tiny real sample) the per-cell AUC of the four methods against a team's review scores.

    python benchmarks/single_cell_real.py --run SC_RUN --images DIR --masks DIR
                                          --percell CSV [--out DIR] [--json]

--run: a single-cell run folder (experiments/run_single_cell.py --out), trained on
whatever it was trained on (the synthetic atlas, unless you trained it on HPA data).
--images: fields in the 2021 layout (`<ID>_<color>.png`, any size); --masks: their
reference masks (`<ID>_predictedmask.png`, HPA-Cell-Segmentation's, or `<ID>_cells.png`);
--percell: review scores, columns image_id, mask_label, class_2021, score_1to5 (1 = the
cell surely does not show the class, 5 = surely does; a cell reviewed twice is averaged).

AUC: per reviewed cell the method's score of the reviewed class; cells averaging >= 4 are
positives, <= 2 negatives, 3 left out; pooled over the fields, and per (field, class)
with both kinds. Method (a) gives every cell of a field one score, so within a field its
AUC is 0.5 by construction: only (b)-(d) can rank cells. With gapnet's own segmentation
each own cell is matched to a reference cell at IoU >= 0.6 (`gapnet.segment.match`) and
inherits its review.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time

from gapnet.jsonout import emit, json_main  # noqa: E402
from gapnet.quiet import quiet_tensorflow  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

METHODS = ("image", "maps", "cell", "image_x_cell")


def read_reviews(path: str) -> dict:
    """{(image_id, mask_label, class): mean score} of the review CSV."""
    acc: dict = {}
    with open(path, newline="") as f:
        for line, r in enumerate(csv.DictReader(f), start=2):
            try:
                key = (r["image_id"], int(r["mask_label"]), int(r["class_2021"]))
                acc.setdefault(key, []).append(float(r["score_1to5"]))
            except (KeyError, TypeError, ValueError) as e:
                raise SystemExit(f"{path}:{line}: bad review row ({e!r})") from None
    return {k: float(np.mean(v)) for k, v in acc.items()}


def auc(scores, positive) -> float:
    from sklearn.metrics import roc_auc_score

    positive = np.asarray(positive, bool)
    if positive.all() or not positive.any():
        return float("nan")
    return float(roc_auc_score(positive, scores))


def field_scores(scorer, explainers, field, cells) -> dict:
    """{method: (n_cells, 19)} for one field (the run's models; maps averaged over folds)."""
    import cv2

    from gapnet.explain.cells import cell_calls
    from gapnet.explain.maps import class_maps
    from gapnet.segment import edge_labels
    from gapnet.single_cell.cell_model import predict_cells
    from gapnet.single_cell.crops import cell_crops
    from gapnet.single_cell.scores import method_scores

    p = scorer.image_probs(field)
    n = int(cells.max())
    crops, labels = cell_crops(field, cells, scorer.sc.cell.crop_size)
    cell_p = np.mean([predict_cells(m, crops) for m in scorer.cell_models], 0)
    s = scorer.image_size
    small = cv2.resize(field, (s, s), interpolation=cv2.INTER_AREA)
    every = list(range(len(p)))
    maps = np.mean(
        [class_maps(e, small[None], every, method="input_gradient")[0] for e in explainers], 0
    )
    map_p = cell_calls(p, np.full(len(p), 0.5), maps, every, cells)[0]
    return method_scores(
        np.repeat(p[None], n, 0),
        cell_p,
        map_p,
        edge=np.isin(labels, edge_labels(cells)),
        edge_weight=scorer.sc.edge_weight,
        negative=(18, scorer.sc.negative),
    )


@json_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--images", required=True)
    p.add_argument("--masks", required=True)
    p.add_argument("--percell", required=True)
    p.add_argument("--out", help="keep the submissions here (default: a temporary folder)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    quiet_tensorflow()  # after parsing: --help never waits for TensorFlow
    with tempfile.TemporaryDirectory() as tmp:
        r = run(a, a.out or tmp)
    print_table(r, sys.stderr if a.json else sys.stdout)
    if a.json:
        emit(r)
    return 0


def run(a, out: str) -> dict:
    from gapnet.cv.submission import fold_models
    from gapnet.data.images import read_sample
    from gapnet.explain.maps import Explainer
    from gapnet.segment.match import match
    from gapnet.single_cell.cell_set import field_cells, mask_labels, native_size
    from gapnet.single_cell.predict import FieldScorer, field_ids, predict_submission
    from gapnet.single_cell.submission import read_submission
    from gapnet.training.predict import load_model

    log = lambda *x: print(*x, file=sys.stderr, flush=True)  # noqa: E731
    os.makedirs(out, exist_ok=True)
    reviews = read_reviews(a.percell)
    ids = field_ids(a.images)
    scorer = FieldScorer(a.run)
    if scorer.sc is None:
        raise SystemExit(f"{a.run}: a single-cell run folder is needed (run_single_cell.py)")
    image_run = os.path.join(a.run, "image_run")
    explainers = [Explainer(load_model(m, compile=False)) for m in fold_models(image_run)]
    result = {"run": os.path.abspath(a.run), "fields": {}, "round_trip": {}, "auc": {}}
    rows = {src: {m: [] for m in METHODS} for src in ("reference", "own")}
    truth = {src: [] for src in rows}
    field_of = {src: [] for src in rows}
    for src, masks in (("reference", a.masks), ("own", None)):
        t = time.perf_counter()
        path = os.path.join(out, f"submission_{src}.csv")
        predict_submission(a.run, a.images, ids, path, masks, log=log)
        sub = read_submission(path)
        result["seconds_" + src] = round(time.perf_counter() - t, 1)
        ok = True
        for sid in ids:
            field = read_sample(a.images, sid, native_size(a.images, sid))
            cells, where = field_cells(field, masks, sid, scorer.sc.nucleus_diameter)
            ref, _ = field_cells(field, a.masks, sid, 50.0)
            got_cells, got_scores = sub[sid]
            want = scorer.score(field, cells)
            same = np.array_equal(got_cells, cells) and np.allclose(
                got_scores, want, rtol=1e-5, atol=1e-7
            )
            ok &= bool(same)
            s = field_scores(scorer, explainers, field, cells)
            m = match(cells, ref, 0.6)
            result["fields"].setdefault(sid, {})[src] = {
                "size": int(field.shape[0]),
                "cells": int(cells.max()),
                "reference_cells": int(ref.max()),
                "matched_to_reference": m.tp,
                "round_trip": bool(same),
            }
            # reference labels are the relabelled masks' 1..k in label order
            raw = mask_labels(a.masks, sid, int(ref.max()))
            ref_of = dict(m.pairs)  # own/reference cell -> reference cell (1..k)
            for (rid, label, k), score in reviews.items():
                if rid != sid or 2 < score < 4:
                    continue
                if label not in raw:
                    continue
                rc = int(np.searchsorted(raw, label)) + 1  # relabelled reference cell
                own = next((c for c, r_ in ref_of.items() if r_ == rc), None)
                if own is None:
                    continue
                for meth in METHODS:
                    rows[src][meth].append(s[meth][own - 1, k])
                truth[src].append(score >= 4)
                field_of[src].append((sid, k))
        result["round_trip"][src] = bool(ok)
    for src in rows:
        y = np.array(truth[src], bool)
        groups = sorted(set(field_of[src]))
        result["auc"][src] = {
            "n_cells": int(len(y)),
            "n_positive": int(y.sum()),
            "pooled": {m: auc(rows[src][m], y) for m in METHODS},
            "per_field_class": {
                f"{g[0][:8]}/{g[1]}": {
                    "n": int(sum(1 for f in field_of[src] if f == g)),
                    **{
                        m: auc(
                            [v for v, f in zip(rows[src][m], field_of[src], strict=True) if f == g],
                            [t for t, f in zip(y, field_of[src], strict=True) if f == g],
                        )
                        for m in METHODS
                    },
                }
                for g in groups
            },
        }
    return result


def print_table(r: dict, file=None) -> None:
    say = lambda *x: print(*x, file=file)  # noqa: E731
    say("\nReal HPA 2021 fields (a tiny real sample; the run's models as trained)")
    say("| field | size | reference cells | own cells | own matched at IoU 0.6 | round trip |")
    say("|---|---:|---:|---:|---:|---|")
    for sid, f in r["fields"].items():
        ref, own = f["reference"], f["own"]
        say(
            f"| {sid[:8]} | {ref['size']} | {ref['cells']} | {own['cells']} | "
            f"{own['matched_to_reference']} | {ref['round_trip'] and own['round_trip']} |"
        )
    for src, a in r["auc"].items():
        say(
            f"\nper-cell AUC against the review scores, {src} masks ({a['n_cells']} cells, "
            f"{a['n_positive']} positive)"
        )
        say("| cells | " + " | ".join(METHODS) + " |")
        say("|---|" + "---:|" * len(METHODS))
        say("| pooled | " + " | ".join(f"{a['pooled'][m]:.3f}" for m in METHODS) + " |")
        for g, v in a["per_field_class"].items():
            say(f"| {g} (n={v['n']}) | " + " | ".join(f"{v[m]:.3f}" for m in METHODS) + " |")


if __name__ == "__main__":
    sys.exit(main())
