"""The report of a finished run: `RUN/report/report.html` (self-contained) and `report.md`.

Contents, in this order: the run in a paragraph; per-fold and out-of-fold macro-F1 at 0.5,
tuned and cross-fitted thresholds with bootstrap 95% intervals; seed 000's summary tables
(macro and micro precision, recall, F1, ROC-AUC, Hamming loss); the figures of
`gapnet.report.figures` (PNG files beside the pages, embedded in the HTML); the per-class
table (precision, recall, F1, examples in train and validation); explain's maps when
RUN/explain has them; the resolved config (folded in the HTML). Tables are built once as
rows and rendered to both; the title names the run folder, the model and the data.
"""

from __future__ import annotations

import json
import os

import numpy as np

from gapnet import metrics
from gapnet.cv.evaluate import selection_label
from gapnet.cv.runfolder import read_predictions
from gapnet.cv.runread import load_run
from gapnet.io import atomic_write_text, read_json
from gapnet.report.page import render
from gapnet.report.run_figures import explain_section, make_figures
from gapnet.report.tables import headline, interval_kind
from gapnet.schemes import scheme_of_width

N_BOOT = 1000


def _f(v, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def interval_method(m: dict) -> str:
    """The `metrics.bootstrap_ci` method of the interval a run's metrics.json names
    ("basic" since #36, "bca" in gapnet 0.4, else "percentile", what earlier runs
    stored): a refreshed report keeps the run's own."""
    return interval_kind(m).lower()


def ci_rows(targets, oof, folds, tuned, cross, method: str = metrics.DEFAULT_METHOD) -> list[list]:
    """Per fold and out of fold: macro-F1 with its bootstrap 95% interval (`method`:
    "basic", "bca" or "percentile") at cross-fitted thresholds (the honest figure), at
    0.5, and at tuned thresholds (optimistic)."""

    def _with_ci(y, pred) -> str:
        lo, hi = metrics.bootstrap_ci(y, pred, N_BOOT, method=method)
        return f"{metrics.macro_f1(y, pred):.3f} [{lo:.3f}, {hi:.3f}]"

    rows = []
    for k in sorted(set(folds.tolist())):
        m = folds == k
        y, p = targets[m], oof[m]
        rows.append(
            [
                f"fold {k}",
                int(m.sum()),
                _with_ci(y, p > cross[m]),
                _with_ci(y, p > 0.5),
                _with_ci(y, p > tuned),
            ]
        )
    rows.append(
        [
            "out of fold",
            len(targets),
            _with_ci(targets, oof > cross),
            _with_ci(targets, oof > 0.5),
            _with_ci(targets, oof > tuned),
        ]
    )
    return rows


SUMMARY_KEYS = [
    ("macro_precision", "macro precision"),
    ("macro_recall", "macro recall"),
    ("macro_f1", "macro F1"),
    ("micro_precision", "micro precision"),
    ("micro_recall", "micro recall"),
    ("micro_f1", "micro F1"),
    ("macro_roc_auc", "macro ROC-AUC"),
    ("micro_roc_auc", "micro ROC-AUC"),
    ("macro_pr_auc", "macro PR-AUC"),
    ("hamming_loss", "Hamming loss"),
]


def summary_rows(evals: dict) -> list[list]:
    """Seed 000 Tables I-IV: one row per metric, one column per threshold rule."""
    return [[label] + [_f(e.get(key)) for e in evals.values()] for key, label in SUMMARY_KEYS]


def per_class_rows(targets, pred, folds) -> list[list]:
    """Seed 000 Table V: per class precision, recall, F1, mean train / val examples per fold."""
    m = metrics.classification_metrics(targets, pred)["per_class"]
    k_values = sorted(set(folds.tolist()))
    n_train = np.mean([targets[folds != k].sum(0) for k in k_values], 0)
    n_val = np.mean([targets[folds == k].sum(0) for k in k_values], 0)
    names = scheme_of_width(targets.shape[1]).classes
    return [
        [
            k,
            names[k],
            _f(m["precision"][k]),
            _f(m["recall"][k]),
            _f(m["f1"][k]),
            f"{n_train[k]:.0f}",
            f"{n_val[k]:.0f}",
        ]
        for k in range(len(names))
    ]


def report_title(run: str, cfg, synthetic: bool) -> str:
    """The run named: its folder, the model and the data (the folder's name, or the atlas)."""
    folder = os.path.basename(os.path.abspath(run))
    data = os.path.basename(os.path.normpath(cfg.data)) if cfg.data else "the synthetic atlas"
    kind = " (synthetic)" if synthetic and cfg.data else ""
    return f"gapnet report: {folder}, {cfg.model} on {data}{kind}"


def write_report(run: str, log=print) -> str:
    """Writes RUN/report/{report.html, report.md, *.png}; returns the HTML path."""
    table = load_run(run, log=lambda *a: None)
    cfg, ids, targets, folds = table.cfg, table.ids, table.targets, table.folds
    pred_ids, oof = read_predictions(os.path.join(run, "oof_predictions.csv"))
    if pred_ids != list(ids):
        raise ValueError(f"{run}: oof_predictions.csv and folds.csv list different Ids")
    thr = read_json(os.path.join(run, "thresholds.json"))
    tuned = np.asarray(thr["thresholds"], np.float32)
    by_fold = {int(k): np.asarray(v, np.float32) for k, v in thr["crossfit"].items()}
    cross = np.stack([by_fold[k] for k in folds])
    out_dir = os.path.join(run, "report")
    os.makedirs(out_dir, exist_ok=True)

    evals = {
        "cross-fitted": metrics.evaluate(targets, oof, cross),
        "@0.5": metrics.evaluate(targets, oof, 0.5),
        "tuned (optimistic)": metrics.evaluate(targets, oof, tuned),
    }
    run_metrics = read_json(os.path.join(run, "metrics.json"))
    # as the run stated it (a fine-tuned run names its base run's choice too)
    selection = run_metrics.get("selection_label") or selection_label(cfg)
    data = (
        "synthetic atlas: scores on synthetic data are not HPA scores"
        + (f" ({cfg.data})" if cfg.data else "")
        if run_metrics.get("synthetic", table.synthetic)
        else f"real data ({cfg.data})"
    )
    copies = (
        f" {table.n_copies} augmented copies were trained on and none was scored."
        if table.n_copies
        else ""
    )
    config = json.loads(cfg.to_json())
    m = headline(run_metrics)
    spread = m["fold_spread"]["macro_f1"]
    minutes = (
        f" Training took {m['train_seconds'] / 60:.1f} min."
        if m.get("train_seconds") is not None
        else ""
    )
    sections = [
        (
            "Run",
            None,
            [],
            [
                [
                    f"{cfg.model}, {len(set(folds.tolist()))}-fold cross-validation, "
                    f"{len(ids)} scored samples at {cfg.image_size}px; data: {data}. "
                    f"Model per fold: {selection}.{copies} Thresholds: "
                    f"{cfg.threshold_strategy}. Headline: out-of-fold macro-F1 "
                    f"{m['macro_f1']:.3f} at cross-fitted thresholds; folds "
                    f"{spread['mean']:.3f} +- {spread['std']:.3f} (mean +- std).{minutes}"
                ]
            ],
        ),
        (
            f"Macro-F1 with bootstrap 95% intervals ({selection}); nominal 95 %: their "
            "measured coverage is in gapnet's docs/evaluation.md",
            f"Intervals ({interval_kind(m)}) resample "
            f"the samples ({N_BOOT} resamples) with the predictions fixed. "
            "`cross-fitted` thresholds are chosen on the other folds' predictions (honest: the "
            "headline); `tuned` ones on the same out-of-fold predictions they are scored on "
            "(optimistic).",
            ["", "n", "cross-fitted", "@0.5", "tuned (optimistic)"],
            ci_rows(targets, oof, folds, tuned, cross, interval_method(m)),
        ),
        (
            f"Summary metrics, out of fold (seed 000 Tables I-IV; {selection})",
            None,
            ["metric"] + list(evals),
            summary_rows(evals),
        ),
        (
            "Per class, cross-fitted thresholds (seed 000 Table V)",
            "Examples: mean per fold in the training and the validation part.",
            ["class", "name", "precision", "recall", "F1", "train", "val"],
            per_class_rows(targets, oof > cross, folds),
        ),
        ("Config", None, ["key", "value"], [[k, json.dumps(v)] for k, v in config.items()]),
    ]
    figs = make_figures(out_dir, targets, oof, folds, tuned, cross, run)
    explained = explain_section(run, out_dir)
    if explained:  # its own figures below it
        sections.insert(-1, explained[0] + (explained[1],))

    # the figures right after the headline tables (run, macro-F1, summary); the
    # configuration (85 rows) last, folded in the HTML
    name = report_title(run, cfg, run_metrics.get("synthetic", table.synthetic))
    md, page = render(name, name, sections, figs, figures_at=3, collapsed=("Config",))
    atomic_write_text(os.path.join(out_dir, "report.md"), md)
    html_path = os.path.join(out_dir, "report.html")
    atomic_write_text(html_path, page)
    log(f"report: {html_path}")
    return html_path
