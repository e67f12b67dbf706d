"""Compares run folders side by side: a markdown and CSV table and a bar chart (PNG).

    python experiments/compare.py RUN [RUN ...] [--out reports/compare]

Figures per run, each column naming its threshold rule: out-of-fold macro-F1 at
cross-fitted thresholds (the honest headline) with its bootstrap 95% interval and the std
across folds, at 0.5, and at thresholds tuned on the scored predictions (optimistic);
micro-F1 and macro-F1 over classes with >= 10 examples (cross-fitted); training time;
per-class F1 (cross-fitted). Each row also says how the run chose its epochs.

A fine-tuned run (finetune_head.py's RUN/finetune_<loss>) is a run folder too, named
RUN/finetune_<loss> in the table. A missing or unfinished folder is refused, named.
"""

import argparse
import csv
import json
import os
import sys

from gapnet.cv.runfolder import RunError
from gapnet.cv.runread import require_finished
from gapnet.io import atomic_write_text
from gapnet.report.figures import comparison
from gapnet.report.tables import comparison_markdown, comparison_rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "runs",
        nargs="+",
        help="run folders written by run_kfold.py (or finetune_head.py's RUN/finetune_<loss>)",
    )
    p.add_argument(
        "--out", default="reports/compare", help="output folder (default reports/compare)"
    )
    args = p.parse_args(argv)
    runs = []
    for path in args.runs:
        try:
            require_finished(path)
            with open(os.path.join(path, "metrics.json")) as f:
                metrics = json.load(f)
            with open(os.path.join(path, "config.json")) as f:
                config = json.load(f)
        except RunError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except (OSError, ValueError) as e:
            print(f"error: {path}: not a finished run folder ({e})", file=sys.stderr)
            return 1
        runs.append({"name": run_name(path), "config": config, "metrics": metrics})
    try:
        rows = comparison_rows(runs)
    except ValueError as e:  # runs of different label schemes
        print(f"error: {e}", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    atomic_write_text(os.path.join(args.out, "comparison.md"), comparison_markdown(rows))
    with open(os.path.join(args.out, "comparison.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    comparison(rows, os.path.join(args.out, "comparison.png"))
    print(comparison_markdown(rows).split("\n\n")[0])
    print(f"\nwritten: {args.out}/comparison.md, comparison.csv, comparison.png")
    return 0


def run_name(path: str) -> str:
    """A run's name in the table: its folder's, with the run's for a fine-tuned one
    (RUN/finetune_<loss> -> RUN/finetune_<loss>)."""
    parts = os.path.normpath(os.path.abspath(path)).split(os.sep)
    return "/".join(parts[-2:]) if parts[-1].startswith("finetune_") else parts[-1]


if __name__ == "__main__":
    sys.exit(main())
