"""Report figures (matplotlib, Agg): each function takes arrays and writes one PNG.

The figures of the seeds: per-class F1 per fold (seed 002, Fig. 4.2), training curves per
fold (Fig. A.7), macro/micro ROC and PR curves (seed 000, Fig. 5), label frequencies
(Fig. A.1), label co-occurrence (Fig. A.2), labels per sample (Fig. A.3), F1 against the
threshold per class with the chosen thresholds, and the LR range test.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gapnet.schemes import scheme_of_width  # noqa: E402


def short_names(n_classes: int) -> list[str]:
    """Tick labels of the scheme with `n_classes` classes: "k name" cut to 18 letters."""
    return [f"{k} {n[:18]}" for k, n in enumerate(scheme_of_width(n_classes).classes)]


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def per_class_f1_per_fold(f1: np.ndarray, path: str) -> str:
    """f1: (folds, classes) per-class F1 of each fold's validation predictions at that
    fold's cross-fitted thresholds (chosen on the other folds; the report's caption)."""
    fig, ax = plt.subplots(figsize=(12, 4))
    k, n = len(f1), np.shape(f1)[1]
    width = 0.8 / k
    for i, row in enumerate(f1):
        ax.bar(np.arange(n) + (i - (k - 1) / 2) * width, row, width, label=f"fold {i}")
    ax.set_xticks(range(n), short_names(n), rotation=75, ha="right", fontsize=7)
    ax.set_ylabel("F1 (cross-fitted thresholds)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Per-class F1 per fold")
    return _save(fig, path)


def training_curves(histories: list[dict], path: str) -> str:
    """histories: per fold, {column: values} from history.csv."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for k, h in enumerate(histories):
        epochs = np.asarray(h.get("epoch", []), float) + 1
        for ax, key in zip(axes, ("loss", "macro_f1"), strict=True):
            if key in h:
                ax.plot(epochs, h[key], "--", color=f"C{k}", label=f"fold {k} train")
            if f"val_{key}" in h:
                ax.plot(epochs, h[f"val_{key}"], color=f"C{k}", label=f"fold {k} selection set")
    for ax, title in zip(axes, ("loss", "macro-F1 @0.5"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend(fontsize=7)
    return _save(fig, path)


def roc_pr_curves(y_true: np.ndarray, y_prob: np.ndarray, path: str) -> str:
    """Micro (all labels pooled) and macro (mean of per-class curves on a common grid)."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    y_true = np.asarray(y_true, bool)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    fpr, tpr, _ = roc_curve(y_true.ravel(), y_prob.ravel())
    a.plot(fpr, tpr, label="micro")
    prec, rec, _ = precision_recall_curve(y_true.ravel(), y_prob.ravel())
    b.plot(rec, prec, label="micro")
    grid = np.linspace(0, 1, 201)
    classes = [k for k in range(y_true.shape[1]) if 0 < y_true[:, k].sum() < len(y_true)]
    if classes:
        tprs, precs = [], []
        for k in classes:
            f, t, _ = roc_curve(y_true[:, k], y_prob[:, k])
            tprs.append(np.interp(grid, f, t))
            p, r, _ = precision_recall_curve(y_true[:, k], y_prob[:, k])
            precs.append(np.interp(grid, r[::-1], p[::-1]))
        a.plot(grid, np.mean(tprs, 0), label=f"macro ({len(classes)} classes)")
        b.plot(grid, np.mean(precs, 0), label=f"macro ({len(classes)} classes)")
    a.plot([0, 1], [0, 1], ":", color="grey")
    a.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (out of fold)")
    b.set(xlabel="recall", ylabel="precision", title="Precision-recall (out of fold)")
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    return _save(fig, path)


def label_frequencies(targets: np.ndarray, path: str) -> str:
    counts = np.asarray(targets).sum(0)
    fig, ax = plt.subplots(figsize=(12, 3.8))
    ax.bar(range(len(counts)), counts)
    ax.set_yscale("log")
    ax.set_xticks(range(len(counts)), short_names(len(counts)), rotation=75, ha="right", fontsize=7)
    ax.set_ylabel("samples (log)")
    ax.set_title("Label frequencies")
    return _save(fig, path)


def cooccurrence(targets: np.ndarray, path: str) -> str:
    """Share of a row class's samples that also carry the column class."""
    t = np.asarray(targets, np.float64)
    co = t.T @ t
    share = np.divide(
        co, np.diag(co)[:, None], out=np.zeros_like(co), where=np.diag(co)[:, None] > 0
    )
    np.fill_diagonal(share, np.nan)
    fig, ax = plt.subplots(figsize=(8, 7))
    im = ax.imshow(share, cmap="viridis", vmin=0)
    n = t.shape[1]
    ax.set_xticks(range(n), range(n), fontsize=7)
    ax.set_yticks(range(n), short_names(n), fontsize=7)
    fig.colorbar(im, ax=ax, label="P(column | row)")
    ax.set_title("Label co-occurrence")
    return _save(fig, path)


def labels_per_sample(targets: np.ndarray, path: str) -> str:
    n = np.asarray(targets).sum(1).astype(int)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    values = np.arange(n.min(), n.max() + 1)
    ax.bar(values, [(n == v).sum() for v in values])
    ax.set(xlabel="labels per sample", ylabel="samples", title="Labels per sample")
    return _save(fig, path)


def f1_vs_threshold(grid: np.ndarray, curves: np.ndarray, chosen, path: str) -> str:
    """curves: (len(grid), classes) out-of-fold F1 per class at each threshold."""
    n = curves.shape[1]
    rows = -(-n // 7)
    fig, axes = plt.subplots(rows, 7, figsize=(16, 2.1 * rows + 0.1), sharex=True, sharey=True)
    names = short_names(n)
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.axis("off")
            continue
        ax.plot(grid, curves[:, k], lw=1)
        ax.axvline(chosen[k], color="C3", lw=0.8)
        ax.set_title(names[k], fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle("F1 against threshold per class (red: chosen threshold)")
    return _save(fig, path)


def lr_finder(lrs, losses, suggestion: float | None, path: str) -> str:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(lrs, losses)
    if suggestion:
        ax.axvline(suggestion, color="C3", ls="--", label=f"suggested {suggestion:.2g}")
        ax.legend(fontsize=8)
    ax.set(xscale="log", xlabel="learning rate", ylabel="loss", title="LR range test")
    return _save(fig, path)


def comparison(rows: list[dict], path: str) -> str:
    """Runs side by side (`gapnet.report.tables.comparison_rows`): macro-F1 with its 95%
    interval, @0.5 and tuned marks; per-class F1 below (cross-fitted thresholds)."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 8))
    x = np.arange(len(rows))
    f1 = np.array([r["macro_f1"] for r in rows], float)
    err = np.array(
        [
            [r["macro_f1"] - r["ci95_low"], r["ci95_high"] - r["macro_f1"]]
            if r["ci95_low"] is not None
            else [0, 0]
            for r in rows
        ],
        float,
    ).T
    ax1.bar(x, f1, 0.6, yerr=err, capsize=4, color="C0", label="cross-fitted, 95% CI")
    ax1.plot(x, [r["macro_f1_at_0.5"] for r in rows], "k_", ms=20, mew=2, label="@0.5")
    ax1.plot(x, [r["macro_f1_tuned"] for r in rows], "r_", ms=20, mew=2, label="tuned (optimistic)")
    ax1.set_xticks(x, [r["run"] for r in rows], fontsize=8)
    ax1.set_ylabel("out-of-fold macro-F1")
    ax1.legend(fontsize=8)
    w = 0.8 / len(rows)
    n = rows[0]["n_classes"]
    for i, r in enumerate(rows):
        ax2.bar(np.arange(n) + i * w, [r[f"f1_{k}"] or 0 for k in range(n)], w, label=r["run"])
    ax2.set_xticks(np.arange(n) + w * (len(rows) - 1) / 2, [str(k) for k in range(n)])
    ax2.set_xlabel("class")
    ax2.set_ylabel("F1 (cross-fitted)")
    ax2.legend(fontsize=7, ncol=3)
    fig.suptitle(", ".join(sorted({r["data"] for r in rows})))
    return _save(fig, path)
