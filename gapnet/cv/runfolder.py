"""The run-folder format: paths, completion markers, the predictions and folds CSVs. The
lock and the config check: `gapnet.cv.runlock`; reading a finished run back (`load_run`,
what it trained on): `gapnet.cv.runread`.

Run folder (`out`):
    config.json            the resolved Config
    folds.csv              Id,fold
    fold_<k>/model.keras   the model that predicts fold k, chosen by `cfg.selection`: the
                           best epoch on the inner selection set, the last, or (peek) the
                           best on fold k itself (model.joblib for a scikit-learn baseline)
    fold_<k>/inner_val.csv the selection set's Ids (selection="inner")
    fold_<k>/history.csv   per-epoch loss and macro-F1 (training, and the selection set)
    fold_<k>/lr_finder.json  the LR range test (lr_find=true)
    fold_<k>/val_predictions.csv   Id + 28 probabilities for fold k's scored samples
    fold_<k>/done.json     completion marker with checksums: a restarted run skips the fold
    oof_predictions.csv    Id + 28 probabilities for every original (out of fold)
    thresholds.json        per-class thresholds tuned on all OOF predictions, and the
                           cross-fitted ones of each fold
    metrics.json           `gapnet.cv.evaluate`: the headline at cross-fitted thresholds,
                           and at 0.5 and tuned; per class; per fold
    data.json              the dataset folder trained on (the synthetic atlas's own, read
                           back whatever $GAPNET_CACHE says later) and whether it is synthetic
    report/                the report (`gapnet.report`): report.md, report.html, figures
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import os

import numpy as np

from gapnet.config import Config
from gapnet.data.labels import DataError
from gapnet.io import atomic_write_json, atomic_write_text, read_json


class RunError(Exception):
    """The run folder cannot be used as asked (locked, different config, folds missing)."""


def default_out(cfg: Config) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{stamp}-{cfg.model}")


def fold_dir(out: str, k: int) -> str:
    return os.path.join(out, f"fold_{k}")


# === Predictions and folds CSVs ===
def write_predictions(path: str, ids, probs: np.ndarray) -> None:
    header = "Id," + ",".join(str(k) for k in range(probs.shape[1]))
    lines = [header] + [
        i + "," + ",".join(f"{p:.7g}" for p in row) for i, row in zip(ids, probs, strict=True)
    ]
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_predictions(path: str) -> tuple[list[str], np.ndarray]:
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split(",") for line in f][1:]
    return [r[0] for r in rows], np.array([[float(v) for v in r[1:]] for r in rows], np.float32)


def write_folds(path, ids, folds) -> None:
    atomic_write_text(
        path, "Id,fold\n" + "".join(f"{i},{f}\n" for i, f in zip(ids, folds, strict=True))
    )


def read_fold_table(path) -> tuple[list[str], np.ndarray]:
    """The Ids and folds of an `Id,fold` file, in file order."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip() for c in rows[0][:2]] != ["Id", "fold"]:
        raise DataError(f"{path}: expected a header 'Id,fold'")
    ids, folds = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        try:
            ids.append(row[0].strip())
            folds.append(int(row[1]))
        except (IndexError, ValueError):
            raise DataError(f"{path}:{line}: expected 'Id,fold' with an integer fold") from None
    return ids, np.array(folds, np.int64)


def read_folds(path, ids) -> np.ndarray:
    """The fold of each of `ids` (all must be present) from an `Id,fold` file."""
    table = dict(zip(*read_fold_table(path), strict=True))
    missing = [i for i in ids if i not in table]
    if missing:
        raise DataError(
            f"{os.fspath(path)}: no fold for {len(missing)} sample(s), e.g. {missing[:3]}"
        )
    return np.array([table[i] for i in ids], np.int64)


def write_scores(out: str, ids, oof: np.ndarray, result: dict) -> None:
    """Writes oof_predictions.csv and `gapnet.cv.evaluate.evaluate_oof`'s thresholds.json
    and metrics.json."""
    write_predictions(os.path.join(out, "oof_predictions.csv"), ids, oof)
    atomic_write_json(os.path.join(out, "thresholds.json"), result["thresholds"])
    atomic_write_json(os.path.join(out, "metrics.json"), result["metrics"])


# === Completion markers ===
def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fold_done(path: str) -> bool:
    """True if the fold folder finished: its marker exists and every file matches its checksum."""
    marker = os.path.join(path, "done.json")
    if not os.path.isfile(marker):
        return False
    sums = read_json(marker).get("sha256", {})
    return bool(sums) and all(
        os.path.isfile(os.path.join(path, f)) and _sha256(os.path.join(path, f)) == s
        for f, s in sums.items()
    )


def mark_done(path: str, files, fold: int, **extra) -> None:
    """Writes the completion marker: the checksums of the fold's finished files (and
    `extra` facts such as the training time)."""
    atomic_write_json(
        os.path.join(path, "done.json"),
        {"fold": fold, "sha256": {f: _sha256(os.path.join(path, f)) for f in files}, **extra},
    )


# Names that lived here before gapnet 0.4 (docs/architecture.md, "Moved in 0.4"): still
# importable from here, with a DeprecationWarning naming the new home.
_MOVED = {
    **dict.fromkeys(("RunLock", "check_config", "IGNORED_ON_RESUME"), "gapnet.cv.runlock"),
    **dict.fromkeys(
        ("load_run", "RunTable", "is_copy", "require_finished", "run_data", "record_data"),
        "gapnet.cv.runread",
    ),
}


def __getattr__(name):
    if name in _MOVED:
        import importlib
        import warnings

        warnings.warn(
            f"gapnet.cv.runfolder.{name} moved to {_MOVED[name]}.{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
