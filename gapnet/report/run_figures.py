"""The figures of a run's report: per-class F1 per fold, training curves, ROC/PR, label
statistics, F1 against threshold, the LR range test, and explain's maps when RUN/explain
has them (copied beside the report). Each returns (caption, path) pairs."""

from __future__ import annotations

import csv
import os

import numpy as np

from gapnet import metrics, thresholds
from gapnet.io import read_json
from gapnet.report import figures


def _history(path: str) -> dict:
    """{column: values} of a history.csv; columns Keras' CSVLogger filled with "NA" (the
    `val_*` ones of a run with no selection set) are left out."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {
        k: [float(r[k]) for r in rows]
        for k in (rows[0] if rows else {})
        if any(r[k] != "NA" for r in rows)
    }


def make_figures(out_dir, targets, oof, folds, tuned, cross, run) -> list[tuple[str, str]]:
    """(caption, path) of every figure of the run."""
    k_values = sorted(set(folds.tolist()))
    p = lambda name: os.path.join(out_dir, name)  # noqa: E731
    figs = [
        (
            "Per-class F1 per fold (cross-fitted thresholds; seed 002 Fig. 4.2)",
            figures.per_class_f1_per_fold(
                np.array(
                    [
                        metrics.per_class_f1(
                            targets[folds == k], oof[folds == k] > cross[folds == k]
                        )
                        for k in k_values
                    ]
                ),
                p("per_class_f1_per_fold.png"),
            ),
        )
    ]
    hist = [os.path.join(run, f"fold_{k}", "history.csv") for k in k_values]
    if all(os.path.isfile(h) for h in hist):
        figs.append(
            (
                "Training curves per fold, and the selection set's when the run has one (Fig. A.7)",
                figures.training_curves([_history(h) for h in hist], p("training_curves.png")),
            )
        )
    figs.append(
        (
            "ROC and precision-recall curves, out of fold (seed 000 Fig. 5)",
            figures.roc_pr_curves(targets, oof, p("roc_pr.png")),
        )
    )
    figs.append(
        (
            "Label frequencies (Fig. A.1)",
            figures.label_frequencies(targets, p("label_frequencies.png")),
        )
    )
    figs.append(
        ("Label co-occurrence (Fig. A.2)", figures.cooccurrence(targets, p("cooccurrence.png")))
    )
    figs.append(
        (
            "Labels per sample (Fig. A.3)",
            figures.labels_per_sample(targets, p("labels_per_sample.png")),
        )
    )
    grid = thresholds.grid(0.01)
    curves = np.stack(
        [thresholds.f1_curve(targets[:, k], oof[:, k], grid) for k in range(targets.shape[1])], 1
    )
    figs.append(
        (
            "Out-of-fold F1 against threshold per class, with the tuned thresholds",
            figures.f1_vs_threshold(grid, curves, tuned, p("f1_vs_threshold.png")),
        )
    )
    for k in k_values:
        lr = os.path.join(run, f"fold_{k}", "lr_finder.json")
        if os.path.isfile(lr):
            d = read_json(lr)
            figs.append(
                (
                    f"LR range test, fold {k} (seed 000 Fig. 3)",
                    figures.lr_finder(
                        d["lr"], d["loss"], d.get("suggestion"), p(f"lr_finder_fold{k}.png")
                    ),
                )
            )
    return figs


def explain_section(run: str, out_dir: str):
    """(section, figures) of `experiments/explain.py`'s output in RUN/explain, if any: the
    method and a few of its figures (copied beside the report)."""
    import shutil

    path = os.path.join(run, "explain", "summary.json")
    if not os.path.isfile(path):
        return None
    s = read_json(path)
    m = s["method"]
    text = (
        f"{len(s['samples'])} samples explained ({m['rule']}). Maps: {m['maps']} on "
        f"{', '.join(m['layers'])}, TTA {m['tta']}; cells: {m['cells']}; a cell gets a "
        f"class the image gets when its share of the class map is at least "
        f"{m['cell_share']}. Gallery: explain/gallery.html; per-cell calls: "
        "explain/cells.csv." + (" Synthetic data." if s.get("synthetic") else "")
    )
    figs = []
    for rel in s["figures"]:
        src = os.path.join(run, "explain", rel)
        if os.path.isfile(src):
            dst = os.path.join(out_dir, "explain_" + os.path.basename(rel))
            shutil.copyfile(src, dst)
            figs.append((f"Localization maps: {os.path.basename(rel)[:-4]}", dst))
    if s.get("embeddings"):
        src = os.path.join(run, "explain", s["embeddings"]["figure"])
        if os.path.isfile(src):
            dst = os.path.join(out_dir, "explain_embedding.png")
            shutil.copyfile(src, dst)
            figs.append((f"Embeddings ({s['embeddings']['method']})", dst))
    return ("Where the protein is", None, [], [[text]]), figs
