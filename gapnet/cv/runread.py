"""Reading a finished run back without importing the job that wrote it: whether it has
finished (`require_finished`, cheap, no TensorFlow), what it trained on (data.json:
`record_data`, `run_data`, `trained_on_synthetic`), and its scored samples (`load_run`),
which the report, predict, explain and fine-tuning read a run with."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from gapnet.config import Config
from gapnet.cv.runfolder import RunError, read_fold_table
from gapnet.io import atomic_write_json, read_json

FINISHED_FILES = ("config.json", "thresholds.json", "metrics.json")  # written last: merged


def require_finished(run: str) -> None:
    """Checks that `run` is a finished run folder (run_kfold.py's, or a fine-tuned one in
    RUN/finetune_<loss>/) before anything is loaded; cheap, no TensorFlow.

    Raises:
        RunError: the folder is missing, is not a run folder, or has not finished (named,
            with what to do).
    """
    if not os.path.isdir(run):
        raise RunError(f"{run}: no such run folder")
    if not os.path.isfile(os.path.join(run, "config.json")):
        raise RunError(f"{run} is not a run folder (no config.json)")
    missing = [f for f in FINISHED_FILES if not os.path.isfile(os.path.join(run, f))]
    if missing:
        name = os.path.basename(os.path.normpath(run))
        how = (
            f"rerun `python experiments/finetune_head.py --run {os.path.dirname(run) or '.'}` "
            "with the same --loss (it resumes)"
            if name.startswith("finetune_")
            else f"finish it with `python experiments/run_kfold.py --out {run}` (the same "
            f"options; it resumes), or `--out {run} --merge` after training its folds with --fold"
        )
        raise RunError(f"{run} has not finished (no {', '.join(missing)}): {how}")


def run_problem(run: str) -> str | None:
    """The `error: ...` line a command prints for a run folder it cannot read (missing, not
    a run folder, unfinished: `require_finished`), or None; cheap, no TensorFlow."""
    try:
        require_finished(run)
    except RunError as e:
        return f"error: {e}"
    return None


def is_copy(ids, groups) -> np.ndarray:
    """True for an augmented copy (data_prep/oversample.py): its group is another Id."""
    return (
        np.array([g != i for i, g in zip(ids, groups, strict=True)], bool)
        if groups is not None
        else np.zeros(len(ids), bool)
    )


@dataclass(frozen=True)
class RunTable:
    """What a run scores: its config and the originals' Ids, labels and folds (augmented
    copies train, but are never scored); `n_copies` copies were trained on."""

    cfg: Config
    ids: list
    targets: np.ndarray
    folds: np.ndarray
    synthetic: bool
    n_copies: int = 0


DATA_RECORD = "data.json"


def record_data(out: str, root: str, synthetic: bool, classes=None) -> None:
    """Writes `out`/data.json: the dataset folder the run trained on (for the synthetic
    atlas, the folder it was generated into, which $GAPNET_CACHE chose), whether it is
    synthetic, and the folder's own class names (`classes.csv`; None: an HPA scheme);
    `run_data` and `run_classes` read it back."""
    record = {"root": os.path.abspath(root), "synthetic": synthetic}
    if classes:
        record["classes"] = list(classes)
    atomic_write_json(os.path.join(out, DATA_RECORD), record)


def run_classes(out: str) -> tuple[str, ...] | None:
    """A run's own class names (its data's `classes.csv`, recorded in data.json), declared
    for this process (`gapnet.schemes.own_scheme`: tables and figures name them); None for
    a run on an HPA scheme."""
    from gapnet.schemes import own_scheme

    path = os.path.join(out, DATA_RECORD)
    names = read_json(path).get("classes") if os.path.isfile(path) else None
    return own_scheme(names).classes if names else None


def run_data(out: str, log=print) -> tuple[str, bool]:
    """The dataset root of a run folder and whether it is synthetic. The synthetic atlas
    is read where the run recorded it (data.json), whatever $GAPNET_CACHE says now; only
    when that folder is gone (or a run predates the record) is it found in, or generated
    into, today's cache, and `log` says so."""
    from gapnet.data.prepare import resolve_data

    cfg = Config.from_file(os.path.join(out, "config.json"))
    record = os.path.join(out, DATA_RECORD)
    if cfg.data is None and os.path.isfile(record):
        root = read_json(record)["root"]
        if os.path.isfile(os.path.join(root, "train.csv")):
            return root, True
        log(f"synthetic atlas: {root}, where {out} recorded its data, is gone")
    return resolve_data(cfg, log)


def trained_on_synthetic(out: str) -> bool:
    """Whether a finished run trained on synthetic data: metrics.json's "synthetic" (the
    data folder's marker at training time), else data.json's; runs older than both:
    synthetic only without --data."""
    for name in ("metrics.json", DATA_RECORD):
        path = os.path.join(out, name)
        if os.path.isfile(path) and "synthetic" in read_json(path):
            return bool(read_json(path)["synthetic"])
    return not read_json(os.path.join(out, "config.json")).get("data")


def synthetic_note(what: str) -> str:
    """The line predict.py and explain.py print for a model trained on synthetic data."""
    return (
        f"note: {what} was trained on SYNTHETIC data (gapnet's generator), not HPA images: "
        "its labels and maps for real images are not meaningful; use it to test the pipeline"
    )


def load_run(out: str, log=print) -> RunTable:
    """The scored samples of a run folder, labels read from its data (`run_data`; see
    `RunTable`)."""
    from gapnet.data.source import open_source

    if not os.path.isfile(os.path.join(out, "config.json")):
        raise RunError(f"{out} is not a run folder (no config.json)")
    cfg = Config.from_file(os.path.join(out, "config.json"))
    root, synthetic = run_data(out, log)
    run_classes(out)
    table = open_source(root, scheme=cfg.scheme).labels
    ids, folds = read_fold_table(os.path.join(out, "folds.csv"))
    row = {i: n for n, i in enumerate(table.ids)}
    missing = [i for i in ids if i not in row]
    if missing:
        raise RunError(f"{out}/folds.csv names Ids not in {root}: {missing[:5]}")
    copy = is_copy(ids, [table.groups[row[i]] for i in ids])
    keep = [row[i] for i, c in zip(ids, copy, strict=True) if not c]
    return RunTable(
        cfg,
        [table.ids[n] for n in keep],
        table.targets[keep],
        folds[~copy],
        synthetic,
        int(copy.sum()),
    )
