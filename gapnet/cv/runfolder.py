"""The run-folder format: paths, the lock, completion markers, the predictions and folds
CSVs, and `load_run`, which the report, predict and fine-tuning read a run with (without
importing the job that wrote it).

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
import json
import os
from dataclasses import dataclass

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


# === Lock and config ===
class RunLock:
    """An advisory lock on a run folder (fcntl.flock: released when the process dies).

    A whole run or a merge holds it exclusively; `--fold K` processes hold it shared and
    lock their own fold exclusively, so separate folds can train side by side. The lock
    file exists only while it is held: the last holder removes it (under an exclusive lock,
    and a process that locked a file since removed opens the new one and locks again).
    """

    def __init__(self, path: str, shared: bool = False):
        self.path, self.shared, self.fd = path, shared, None

    def __enter__(self):
        import fcntl

        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        while True:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(
                    self.fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
                )
            except BlockingIOError:
                holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "unknown"
                os.close(self.fd)
                raise RunError(
                    f"{os.path.dirname(self.path)} is in use by another gapnet process "
                    f"(pid {holder}); wait for it or use another --out"
                ) from None
            if self._still_at_path():
                break
            os.close(self.fd)  # its holder removed it between our open and our lock: again
        if not self.shared:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def _still_at_path(self) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(self.fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    def __exit__(self, *exc):
        import fcntl

        try:  # the last holder (exclusive, or a shared one alone) removes the file
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if self._still_at_path():
                os.unlink(self.path)
        except OSError:  # others hold it shared (one of them removes it), or it is gone
            pass
        finally:
            os.close(self.fd)  # closing releases the lock


IGNORED_ON_RESUME = ("verbose",)  # keys that may change between a run and its resumption


def check_config(out: str, cfg: Config, force: bool, log=print) -> None:
    """Writes config.json; refuses to continue a run folder made with another config,
    unless `force`."""
    path = os.path.join(out, "config.json")
    if os.path.isfile(path):
        old, new = read_json(path), json.loads(cfg.to_json())
        # A key added to Config after the run started holds its default there.
        old = {**json.loads(Config().to_json()), **old}
        changed = [
            f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
            for k in sorted(set(old) | set(new))
            if k not in IGNORED_ON_RESUME and old.get(k) != new.get(k)
        ]
        if changed and not force:
            raise RunError(
                f"{out} was started with another config ({'; '.join(changed)}); "
                "use a new --out, or --force to continue it with the new config"
            )
        if changed:
            log(f"warning: continuing {out} with a changed config: {'; '.join(changed)}")
    atomic_write_text(path, cfg.to_json() + "\n")


# === Reading a run back ===
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


def record_data(out: str, root: str, synthetic: bool) -> None:
    """Writes `out`/data.json: the dataset folder the run trained on (for the synthetic
    atlas, the folder it was generated into, which $GAPNET_CACHE chose) and whether it is
    synthetic; `run_data` reads it back."""
    atomic_write_json(
        os.path.join(out, DATA_RECORD), {"root": os.path.abspath(root), "synthetic": synthetic}
    )


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
