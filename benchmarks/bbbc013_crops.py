"""The two-channel BBBC013 run (#39): cross-validated and held-out accuracy, macro-F1 and
ROC-AUC of a run trained on `data_prep/import_bbbc013.py`'s folder, with 95 % intervals.

    python benchmarks/bbbc013_crops.py --run RUN --data OUT --holdout-predictions preds.csv

The call of a cell is its more probable class (the two classes exclude each other);
ROC-AUC ranks p(nuclear) against the well label. Out of fold: the run's
oof_predictions.csv against train.csv. Held out: `predict.py --images OUT/holdout` against
holdout.csv, on all held-out cells (well labels) and on the hand-labelled ones.
Intervals: macro-F1 by `gapnet.metrics.bootstrap_ci` (basic; BCa before #36), accuracy
and ROC-AUC by a percentile bootstrap over cells (1,000 resamples, seed 0).
"""

import argparse
import csv
import json
import os
import sys

import numpy as np


def _boot(fn, y, p, n=1000, seed=0):
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        if len(set(y[i].tolist())) == 2:
            vals.append(fn(y[i], p[i]))
    return [round(float(v), 3) for v in np.percentile(vals, [2.5, 97.5])]


def scores(y: np.ndarray, p_nuclear: np.ndarray, probs: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score

    from gapnet.metrics import bootstrap_ci, macro_f1

    call = probs.argmax(1)
    onehot_t, onehot_p = np.eye(2)[y], np.eye(2)[call]
    out = {
        "n": int(len(y)),
        "accuracy": round(float((call == y).mean()), 3),
        "accuracy_ci95": _boot(lambda a, b: (b == a).mean(), y, call),
        "macro_f1": round(float(macro_f1(onehot_t, onehot_p)), 3),
        "macro_f1_ci95": [round(v, 3) for v in bootstrap_ci(onehot_t, onehot_p)],
    }
    if len(set(y.tolist())) == 2:
        out["roc_auc"] = round(float(roc_auc_score(y, p_nuclear)), 3)
        out["roc_auc_ci95"] = _boot(roc_auc_score, y, p_nuclear)
    return out


def _read(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--holdout-predictions", dest="holdout")
    args = p.parse_args(argv)
    truth = {r["Id"]: int(r["Target"]) for r in _read(os.path.join(args.data, "train.csv"))}
    oof = _read(os.path.join(args.run, "oof_predictions.csv"))
    probs = np.array([[float(r["0"]), float(r["1"])] for r in oof])
    y = np.array([truth[r["Id"]] for r in oof])
    result = {"out_of_fold": scores(y, probs[:, 1], probs)}
    if args.holdout:
        meta = {r["Id"]: r for r in _read(os.path.join(args.data, "holdout.csv"))}
        rows = _read(args.holdout)
        probs = np.array([[float(r["cytoplasmic"]), float(r["nuclear"])] for r in rows])
        y = np.array([int(meta[r["Id"]]["Target"]) for r in rows])
        hand = np.array([meta[r["Id"]]["manual_label"] != "Unknown" for r in rows])
        result["holdout_all_cells"] = scores(y, probs[:, 1], probs)
        result["holdout_hand_labelled"] = scores(y[hand], probs[hand, 1], probs[hand])
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
