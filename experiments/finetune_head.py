"""Fine-tunes only the fully connected head of each fold of a finished run (seed 002, 4.1).

    python experiments/finetune_head.py --run RUN [--loss bce|soft_f1|focal|...] [--epochs N]
        [--lr X]

Writes RUN/finetune_<loss>/ (its path is printed at the end), a run folder of its own
(config.json, folds.csv, fold models, OOF predictions, thresholds, metrics) that
compare.py, report.py, predict.py and export.py take, and before_after.md.
"""

import argparse
import os
import sys

from gapnet.data.labels import DataError
from gapnet.quiet import quiet_tensorflow


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a run folder written by run_kfold.py")
    p.add_argument(
        "--loss",
        default="bce",
        help="bce, weighted_bce, focal, soft_f1, soft_f1_smooth "
        "or a sum like bce+soft_f1 (default bce)",
    )
    p.add_argument("--epochs", type=int, default=5, help="default 5")
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    args = p.parse_args(argv)
    from gapnet.cv.runread import run_problem

    problem = run_problem(args.run)  # before TensorFlow loads
    if problem:
        print(problem, file=sys.stderr)
        return 1
    quiet_tensorflow()  # after parsing: --help never waits for TensorFlow
    from gapnet.cv.finetune import finetune_dir, finetune_run
    from gapnet.io import atomic_write_text, read_json
    from gapnet.report.tables import before_after, summary_table

    try:
        m = finetune_run(args.run, args.loss, args.epochs, args.lr)
    except (DataError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    comparison = before_after(read_json(os.path.join(args.run, "metrics.json")), m, args.loss)
    out = finetune_dir(args.run, args.loss)
    atomic_write_text(os.path.join(out, "before_after.md"), comparison)
    print(summary_table(m))
    print(comparison)
    print(f"fine-tuned run folder: {out} (compare: python experiments/compare.py {args.run} {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
