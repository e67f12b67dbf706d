"""Compares run folders side by side: a markdown and CSV table and a bar chart (PNG).

    python experiments/compare.py RUN [RUN ...] [--out reports/compare]

Figures per run, each column naming its threshold rule: out-of-fold macro-F1 at
cross-fitted thresholds (the honest headline) with its bootstrap 95% interval and the std
across folds, at 0.5, and at thresholds tuned on the scored predictions (optimistic);
micro-F1 and macro-F1 over classes with >= 10 examples (cross-fitted); training time;
per-class F1 (cross-fitted). Each row also says how the run chose its epochs.
"""

import argparse
import csv
import json
import os
import sys

from gapnet.io import atomic_write_text
from gapnet.reports import comparison_markdown, comparison_rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="run folders written by run_kfold.py")
    p.add_argument("--out", default="reports/compare", help="output folder (default reports/compare)")
    args = p.parse_args(argv)
    runs = []
    for path in args.runs:
        try:
            with open(os.path.join(path, "metrics.json")) as f:
                metrics = json.load(f)
            with open(os.path.join(path, "config.json")) as f:
                config = json.load(f)
        except (OSError, ValueError) as e:
            print(f"error: {path}: not a finished run folder ({e})", file=sys.stderr)
            return 1
        runs.append({"name": os.path.basename(os.path.normpath(path)), "config": config,
                     "metrics": metrics})
    rows = comparison_rows(runs)
    os.makedirs(args.out, exist_ok=True)
    atomic_write_text(os.path.join(args.out, "comparison.md"), comparison_markdown(rows))
    with open(os.path.join(args.out, "comparison.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    plot(rows, os.path.join(args.out, "comparison.png"))
    print(comparison_markdown(rows).split("\n\n")[0])
    print(f"\nwritten: {args.out}/comparison.md, comparison.csv, comparison.png")
    return 0


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 8))
    x = np.arange(len(rows))
    f1 = np.array([r["macro_f1"] for r in rows], float)
    err = np.array([[r["macro_f1"] - r["ci95_low"], r["ci95_high"] - r["macro_f1"]]
                    if r["ci95_low"] is not None else [0, 0] for r in rows], float).T
    ax1.bar(x, f1, 0.6, yerr=err, capsize=4, color="C0", label="cross-fitted, 95% CI")
    ax1.plot(x, [r["macro_f1_at_0.5"] for r in rows], "k_", ms=20, mew=2, label="@0.5")
    ax1.plot(x, [r["macro_f1_tuned"] for r in rows], "r_", ms=20, mew=2,
             label="tuned (optimistic)")
    ax1.set_xticks(x, [r["run"] for r in rows], fontsize=8)
    ax1.set_ylabel("out-of-fold macro-F1")
    ax1.legend(fontsize=8)
    w = 0.8 / len(rows)
    for i, r in enumerate(rows):
        ax2.bar(np.arange(28) + i * w, [r[f"f1_{k}"] or 0 for k in range(28)], w, label=r["run"])
    ax2.set_xticks(np.arange(28) + w * (len(rows) - 1) / 2, [str(k) for k in range(28)])
    ax2.set_xlabel("class")
    ax2.set_ylabel("F1 (cross-fitted)")
    ax2.legend(fontsize=7, ncol=3)
    fig.suptitle(", ".join(sorted({r["data"] for r in rows})))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
