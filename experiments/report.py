"""Writes the report of a finished run: RUN/report/report.html (self-contained) and report.md.

    python experiments/report.py RUN

Config, per-fold and out-of-fold macro-F1 with bootstrap 95% intervals (at cross-fitted
thresholds, the honest headline; at 0.5; at tuned thresholds, optimistic), seed 000's summary
and per-class tables, and the figures (per-class F1 per fold, training curves, ROC/PR curves,
label statistics, F1 against threshold, LR range test). run_kfold.py writes it at the end of
every run.

The run's data is read where the run recorded it (RUN/data.json): the synthetic atlas is
not regenerated because $GAPNET_CACHE points elsewhere now. Where it is gone, or the run
predates the record, a line says so and where the atlas is found or generated instead.
"""

import argparse
import sys

from gapnet.cv.runfolder import RunError
from gapnet.data.labels import DataError
from gapnet.quiet import quiet_tensorflow


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="run folder written by run_kfold.py")
    args = p.parse_args(argv)
    from gapnet.cv.runread import run_problem

    problem = run_problem(args.run)  # before TensorFlow loads
    if problem:
        print(problem, file=sys.stderr)
        return 1
    quiet_tensorflow()  # after parsing: --help never waits for TensorFlow
    from gapnet.cv.runread import run_data
    from gapnet.report.run_report import write_report

    try:
        # the run's data where it recorded it; where that is gone (or never recorded),
        # the line that says the atlas is looked for, or generated, in today's cache
        run_data(args.run, log=lambda *a: print(*a, file=sys.stderr, flush=True))
        write_report(args.run)
    except (DataError, RunError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
