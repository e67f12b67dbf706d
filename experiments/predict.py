"""Predicts the test set with a finished run and writes a Kaggle submission.

    python experiments/predict.py --run RUN --data ROOT [--out submission.csv] [--tta d4]

Ids come from ROOT/sample_submission.csv (the submission keeps its order), images from
ROOT/test/ (or ROOT). The fold models of RUN are averaged; the run's thresholds (tuned on
its out-of-fold predictions) decide the labels, and a sample with no class above its
threshold gets its most probable class (--empty none leaves it empty). Also writes the
averaged probabilities (Id + 28 columns) beside the submission. Bad or missing test
images stop the run with the full list, as data_prep/validate.py prints it.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gapnet.cv.runfolder import RunError, write_predictions  # noqa: E402
from gapnet.data.labels import DataError  # noqa: E402
from gapnet.cv.submission import decide, predict_test, run_thresholds, write_submission  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="finished run folder (run_kfold.py --out)")
    p.add_argument("--data", required=True, help="dataset root with sample_submission.csv")
    p.add_argument("--out", default="submission.csv", help="submission CSV (default submission.csv)")
    p.add_argument("--probabilities", help="probabilities CSV (default: <out>_probabilities.csv)")
    p.add_argument("--tta", choices=["none", "flips", "d4"],
                   help="test-time augmentation: none, flips (4 views), d4 (8 views); "
                        "default: the run's tta")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--empty", choices=["top", "none"], default="top",
                   help="a sample with no class above threshold: its top class, or nothing")
    args = p.parse_args(argv)
    try:
        ids, probs = predict_test(args.run, args.data, args.tta, args.batch_size)
    except (DataError, RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    thresholds = run_thresholds(args.run)
    labels = decide(probs, thresholds, args.empty)
    write_submission(args.out, ids, labels)
    prob_path = args.probabilities or os.path.splitext(args.out)[0] + "_probabilities.csv"
    write_predictions(prob_path, ids, probs)
    empty = int((~(probs > thresholds).any(1)).sum())
    print(f"{args.out}: {len(ids)} samples ({empty} with no class above threshold: "
          f"{'top class' if args.empty == 'top' else 'left empty'}); probabilities in {prob_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
