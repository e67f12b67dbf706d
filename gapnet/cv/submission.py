"""Test-set predictions of a finished run: fold models averaged, thresholds, Kaggle submission.

Rule for a sample with no class above its threshold: it gets its most probable class
(Kaggle's metric scores an empty prediction as a miss on every true label, and every HPA
sample has at least one label). `decide` is the pure function that applies it. A sample
dropped for bad image files (`skip_bad`) is not predicted: its row stays in the
submission with an empty prediction (`submission_rows`).
"""

from __future__ import annotations

import os
import re

import numpy as np

from gapnet.config import Config
from gapnet.cv.runfolder import RunError, fold_done
from gapnet.io import atomic_write_text, read_json
from gapnet.thresholds import decide as rule


def decide(probs: np.ndarray, thresholds, fallback: str = "top") -> list[list[int]]:
    """Labels per sample: every class strictly above its threshold; a row with none gets
    its most probable class (fallback "top") or stays empty (fallback "none")."""
    above = rule(probs, thresholds)
    labels = [np.flatnonzero(row).tolist() for row in above]
    if fallback == "top":
        for n, row in enumerate(labels):
            if not row:
                row.append(int(np.argmax(probs[n])))
    return labels


def fold_models(run: str) -> list[str]:
    """The finished fold models of a run folder, in fold order."""
    folds = sorted(
        int(d.split("_")[1])
        for d in os.listdir(run)
        if d.startswith("fold_") and os.path.isdir(os.path.join(run, d))
    )
    unfinished = [k for k in folds if not fold_done(os.path.join(run, f"fold_{k}"))]
    if not folds or unfinished:
        raise RunError(f"{run}: folds {unfinished or '(none)'} have not finished training")
    paths = [os.path.join(run, f"fold_{k}", "model.keras") for k in folds]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise RunError(
            f"no Keras model at {missing[0]} (scikit-learn baselines do not predict test sets)"
        )
    return paths


SKIP_HINT = (
    "Fix the files, or rerun with --skip-bad: samples with bad files are then dropped, "
    "listed, and get an empty prediction in the submission."
)
PART = 1024  # test samples per kept part of a fold's predictions
PART_NAME = re.compile(r"fold\d+-\d{5}\.npy")


def predict_test(
    run: str,
    root: str,
    tta: str | None = None,
    batch_size: int | None = None,
    log=print,
    parts: str | None = None,
    progress: bool = False,
    skip_bad: bool = False,
) -> tuple[list[str], np.ndarray]:
    """Ids in sample_submission.csv order and fold-averaged probabilities (n, 28): the
    Kaggle 2018 test set and a 28-class run (a 2021 run: `gapnet.single_cell.predict`).
    With `skip_bad`, samples with bad image files are dropped (logged, naming them) and
    left out of both; `submission_rows` gives them their empty rows.

    With `parts` (a folder), each fold's probabilities for each block of `PART` samples
    are kept there as they are finished (`fold<K>-<block>.npy`, beside a manifest naming
    the run, its finish time, the test set, its Ids, the TTA and the image size), so a
    killed prediction continues where it stopped; parts made by another run, fold model,
    test image, TTA or size are discarded (`_check_parts`).

    Raises:
        gapnet.data.labels.DataError: the test split has bad or missing files (all listed;
            without `skip_bad`).
        RunError: the run or the test set is not in the 28-class scheme.
    """
    from gapnet.data.cache import open_reader
    from gapnet.data.validate import check_or_raise, validate
    from gapnet.training.predict import load_model, predict

    cfg = Config.from_file(os.path.join(run, "config.json"))
    paths = fold_models(run)
    from gapnet.data.source import open_source

    test = open_source(root, "test")  # the CSV only: refuse before decoding any image
    width = len(run_thresholds(run))
    if width != 28 or test.labels.targets.shape[1] != 28:
        from gapnet.cv.runfolder import RunError

        raise RunError(
            f"{run} predicts {width} classes and {root} is a "
            f"{test.labels.scheme} test set: the 2018 submission needs 28; a 2021 "
            "(19-class) run writes its "
            "submission with --format hpa2021"
        )
    report = validate(root, "test", cfg.image_size, progress=progress)
    ids = check_or_raise(report, skip_bad, log, hint=SKIP_HINT)
    reader = open_reader(report.source, ids, cfg.image_size, cfg.cache, log)
    tta = tta or cfg.tta
    if parts:
        _check_parts(parts, run, report.source, ids, tta, cfg.image_size, paths, log)
        kept = sum(bool(PART_NAME.fullmatch(f)) for f in os.listdir(parts))
        if kept:
            log(f"{kept} parts of {len(paths) * -(-len(ids) // PART)} kept from an earlier run")
    log(f"predicting {len(ids)} test samples with {len(paths)} fold models (TTA {tta})")
    from gapnet.io import atomic_save_npy
    from gapnet.progress import track

    total = np.zeros((len(ids), width), np.float64)
    with track(
        len(ids) * len(paths),
        f"predicting test ({len(ids)} samples x {len(paths)} fold models)",
        unit="prediction",
        enabled=progress,
    ) as bar:
        for k, path in enumerate(paths):
            model = None
            for start in range(0, len(ids), PART):
                rows = np.arange(start, min(start + PART, len(ids)))
                part = os.path.join(parts, f"fold{k}-{start // PART:05d}.npy") if parts else None
                if part and os.path.isfile(part):
                    probs = np.load(part)
                else:
                    if model is None:
                        model = load_model(path)
                    probs = predict(model, reader, rows, batch_size or cfg.batch_size, tta)
                    if part:
                        atomic_save_npy(part, probs)
                total[rows] += probs
                bar.update(len(rows))
    return list(ids), (total / len(paths)).astype(np.float32)


def _check_parts(parts: str, run: str, src, ids, tta: str, size: int, models, log) -> None:
    """Creates `parts` with its manifest, or checks that its parts were made by the same
    run (its finish time and each fold model's size and modification time), test images
    (path, Ids, and each file's size and modification time), TTA and size. Parts made
    otherwise are discarded (logged: a retrained run or edited test set predicts afresh);
    a folder of parts without a manifest is refused. Temporary files a kill left are
    removed.

    Raises:
        RunError: `parts` holds parts of unknown origin."""
    import hashlib

    from gapnet.data.cache import fingerprint
    from gapnet.io import atomic_write_json

    finished = os.path.join(run, "metrics.json")
    want = {
        "run": os.path.abspath(run),
        "run_finished": os.path.getmtime(finished) if os.path.isfile(finished) else None,
        "fold_models": [[os.path.getsize(m), os.path.getmtime(m)] for m in models],
        "data": os.path.abspath(src.image_dir),
        "ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        "images": fingerprint(src.image_dir, src.ext, ids),
        "tta": tta,
        "image_size": size,
        "part": PART,
    }
    os.makedirs(parts, exist_ok=True)
    names = os.listdir(parts)
    for name in names:
        if name.startswith(".tmp-"):  # a kill mid-write
            os.remove(os.path.join(parts, name))
    done = [n for n in names if PART_NAME.fullmatch(n)]
    path = os.path.join(parts, "manifest.json")
    if os.path.isfile(path):
        have = read_json(path)
        if have == want:
            return
        diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
        log(f"{parts}: {len(done)} parts made with other {', '.join(diff)}: predicting afresh")
        for name in done:
            os.remove(os.path.join(parts, name))
    elif done:
        raise RunError(f"{parts} holds parts of unknown origin (no manifest): delete it")
    atomic_write_json(path, want)


def run_thresholds(run: str) -> np.ndarray:
    """The per-class thresholds tuned on the run's out-of-fold predictions."""
    return np.asarray(read_json(os.path.join(run, "thresholds.json"))["thresholds"], np.float32)


def submission_rows(all_ids, ids, labels) -> tuple[list[list[int]], list[str]]:
    """The labels of every Id of sample_submission.csv (`all_ids`, in order) from those of
    the predicted `ids`, and the Ids that were not predicted (dropped with --skip-bad):
    they get an empty prediction, so the submission keeps every row. Pure."""
    of = dict(zip(ids, labels, strict=True))
    return [of.get(i, []) for i in all_ids], [i for i in all_ids if i not in of]


def write_submission(path: str, ids, labels) -> None:
    rows = [f"{i},{' '.join(str(k) for k in row)}" for i, row in zip(ids, labels, strict=True)]
    atomic_write_text(path, "Id,Predicted\n" + "\n".join(rows) + "\n")
