"""The main job: K-fold cross-validation of one model, out-of-fold predictions, thresholds.

Run folder (`out`):
    config.json            the resolved Config
    folds.csv              Id,fold
    fold_<k>/model.keras   the model that predicts fold k, chosen by `cfg.selection`: the
                           best epoch on the inner selection set, the last, or (peek) the
                           best on fold k itself
    fold_<k>/inner_val.csv the selection set's Ids (selection="inner")
    fold_<k>/history.csv   per-epoch loss and macro-F1 (training, and the selection set)
    fold_<k>/val_predictions.csv   Id + 28 probabilities for fold k's scored samples
    fold_<k>/done.json     completion marker with checksums: a restarted run skips the fold
    oof_predictions.csv    Id + 28 probabilities for every original (out of fold)
    thresholds.json        per-class thresholds tuned on all OOF predictions, and the
                           cross-fitted ones of each fold
    metrics.json           `gapnet.evaluate`: the headline at cross-fitted thresholds, and
                           at 0.5 and tuned; per class; per fold
    report.md              a short human-readable summary

Augmented copies (`data_prep/oversample.py`) train with their source's fold but are never
scored.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from gapnet import reports
from gapnet.classes import N_CLASSES
from gapnet.config import Config
from gapnet.cv import inner_split, make_folds, read_folds, write_folds
from gapnet.evaluate import evaluate_oof
from gapnet.io import atomic_write_json, atomic_write_text, read_json
from gapnet.validate import check_or_raise, validate


def default_out(cfg: Config) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{stamp}-{cfg.model}")


def resolve_data(cfg: Config, log=print) -> tuple[str, bool]:
    """The dataset root and whether it is the synthetic atlas."""
    if cfg.data:
        return cfg.data, False
    from gapnet.synthetic.generate import default_dataset

    return default_dataset(cfg.synthetic_n, cfg.synthetic_size, cfg.synthetic_seed, log), True


def write_predictions(path: str, ids, probs: np.ndarray) -> None:
    header = "Id," + ",".join(str(k) for k in range(probs.shape[1]))
    lines = [header] + [i + "," + ",".join(f"{p:.7g}" for p in row) for i, row in zip(ids, probs)]
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_predictions(path: str) -> tuple[list[str], np.ndarray]:
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split(",") for line in f][1:]
    return [r[0] for r in rows], np.array([[float(v) for v in r[1:]] for r in rows], np.float32)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


FOLD_FILES = {"keras": ("model.keras", "history.csv", "val_predictions.csv"),
              "sklearn": ("model.joblib", "val_predictions.csv")}


def fold_done(fold_dir: str) -> bool:
    """True if the fold finished: its marker exists and every file matches its checksum."""
    marker = os.path.join(fold_dir, "done.json")
    if not os.path.isfile(marker):
        return False
    sums = read_json(marker).get("sha256", {})
    return bool(sums) and all(os.path.isfile(os.path.join(fold_dir, f)) and
                              _sha256(os.path.join(fold_dir, f)) == s for f, s in sums.items())


def mark_done(fold_dir: str, files, fold: int, **extra) -> None:
    """Writes the completion marker: the checksums of the fold's finished files (and
    `extra` facts such as the training time)."""
    atomic_write_json(os.path.join(fold_dir, "done.json"), {
        "fold": fold, "sha256": {f: _sha256(os.path.join(fold_dir, f)) for f in files},
        **extra})


def train_fold(cfg: Config, reader, targets, train_idx, select_idx, val_idx, fold_dir: str,
               seed: int, fold=None, log=print):
    """Trains one fold from scratch (the epoch chosen on `select_idx`, or the last one if
    None) and returns the probabilities of `val_idx`."""
    from gapnet import models

    if models.kind(cfg.model) == "sklearn":
        from gapnet import baselines
        from gapnet.pipeline import PngReader

        small = PngReader(reader.image_dir, reader.ext, reader.ids, baselines.FEATURE_SIZE)
        return baselines.fit_predict(cfg.model, small, targets, train_idx, val_idx, fold_dir,
                                     seed, **cfg.model_kwargs)
    from gapnet import training

    model = training.fit(cfg, reader, targets, train_idx, select_idx, fold_dir, seed, fold, log)
    return training.predict(model, reader, val_idx, cfg.batch_size, cfg.tta)


def prepare(cfg: Config, log=print):
    """Validates the data and returns (root, synthetic, ids, targets, reader, groups)."""
    from gapnet.cache import open_reader

    root, synthetic = resolve_data(cfg, log)
    report = validate(root, "train", cfg.image_size, progress=False)
    for note in report.notes[:5]:
        log(str(note))
    ids = check_or_raise(report, cfg.skip_bad, log)
    src = report.source
    keep = np.isin(np.array(src.labels.ids), ids)
    table = src.labels.subset(keep)
    reader = open_reader(src, table.ids, cfg.image_size, cfg.cache, log)
    return root, synthetic, list(table.ids), table.targets, reader, list(table.groups)


class RunError(Exception):
    """The run folder cannot be used as asked (locked, different config, folds missing)."""


class RunLock:
    """An advisory lock on a run folder (fcntl.flock: released when the process dies).

    A whole run or a merge holds it exclusively; `--fold K` processes hold it shared and
    lock their own fold exclusively, so separate folds can train side by side.
    """

    def __init__(self, path: str, shared: bool = False):
        self.path, self.shared, self.fd = path, shared, None

    def __enter__(self):
        import fcntl

        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            raise RunError(f"{os.path.dirname(self.path)} is in use by another gapnet process "
                           f"(pid {holder}); wait for it or use another --out") from None
        if not self.shared:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # closing releases the lock


IGNORED_ON_RESUME = ("verbose",)  # keys that may change between a run and its resumption


def check_config(out: str, cfg: Config, force: bool, log=print) -> None:
    """Refuses to continue a run folder made with another config, unless `force`."""
    path = os.path.join(out, "config.json")
    if os.path.isfile(path):
        old, new = read_json(path), json.loads(cfg.to_json())
        changed = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
                   if k not in IGNORED_ON_RESUME and old.get(k) != new.get(k)]
        if changed and not force:
            raise RunError(f"{out} was started with another config ({'; '.join(changed)}); "
                           "use a new --out, or --force to continue it with the new config")
        if changed:
            log(f"warning: continuing {out} with a changed config: {'; '.join(changed)}")
    atomic_write_text(path, cfg.to_json() + "\n")


def assign_folds(cfg: Config, out: str, ids, targets, groups=None) -> np.ndarray:
    """The run's folds: from --folds-file, or split (augmented copies in their source's
    fold); must equal folds.csv if it exists."""
    folds = (read_folds(cfg.folds_file, ids) if cfg.folds_file
             else make_folds(targets, cfg.folds, cfg.seed, groups))
    path = os.path.join(out, "folds.csv")
    if os.path.isfile(path):
        if not np.array_equal(read_folds(path, ids), folds):
            raise RunError(f"{path} differs from this run's folds (other data or seed?); "
                           "use a new --out")
    else:
        write_folds(path, ids, folds)
    return folds


def fold_indices(cfg: Config, k: int, folds, targets, groups, fold_dir: str, ids):
    """(train, select, scored) sample indices of fold k under `cfg.selection`.

    scored: fold k's originals (augmented copies train but are never scored). train and
    select: the training folds split by `gapnet.cv.inner_split` ("inner", the selection
    Ids written to fold_<k>/inner_val.csv), the scored fold itself ("peek"), or no
    selection set (None: "last", and the scikit-learn baselines, which have no epochs).
    """
    from gapnet import models

    copy = is_copy(ids, groups)
    scored = np.flatnonzero((folds == k) & ~copy)
    train = np.flatnonzero(folds != k)
    if models.kind(cfg.model) == "sklearn" or cfg.selection == "last":
        return train, None, scored
    if cfg.selection == "peek":
        return train, scored, scored
    train, select = inner_split(targets, train, cfg.inner_fraction, cfg.seed + k, groups, copy)
    atomic_write_text(os.path.join(fold_dir, "inner_val.csv"),
                      "Id\n" + "".join(f"{ids[i]}\n" for i in select))
    return train, select, scored


def is_copy(ids, groups) -> np.ndarray:
    """True for an augmented copy (data_prep/oversample.py): its group is another Id."""
    return np.array([g != i for i, g in zip(ids, groups)], bool) if groups is not None \
        else np.zeros(len(ids), bool)


def run_fold(cfg: Config, out: str, k: int, reader, ids, targets, folds, groups=None,
             log=print) -> None:
    """Trains fold k unless it already finished; a fold interrupted mid-way resumes."""
    import time

    from gapnet import models, resume

    fold_dir = os.path.join(out, f"fold_{k}")
    os.makedirs(fold_dir, exist_ok=True)
    with RunLock(os.path.join(fold_dir, ".lock")):
        if fold_done(fold_dir):
            log(f"fold {k}: already finished, skipped")
            return
        train_idx, select_idx, val_idx = fold_indices(cfg, k, folds, targets, groups, fold_dir, ids)
        if select_idx is None:
            chosen = "no epoch selection"
        elif cfg.selection == "peek":
            chosen = "the scored fold chooses the epoch (optimistic)"
        else:
            chosen = f"{len(select_idx)} held-out training samples choose the epoch"
        log(f"fold {k}: training on {len(train_idx)}, scoring {len(val_idx)} samples; {chosen}")
        start = time.perf_counter()
        probs = train_fold(cfg, reader, targets, train_idx, select_idx, val_idx, fold_dir,
                           cfg.seed + k, k, log)
        write_predictions(os.path.join(fold_dir, "val_predictions.csv"),
                          [ids[i] for i in val_idx], probs)
        mark_done(fold_dir, FOLD_FILES[models.kind(cfg.model)], k,
                  seconds=round(time.perf_counter() - start, 1))
        resume.clear(fold_dir)


def run_kfold(cfg: Config, out: str, log=print, *, fold: int | None = None,
              force: bool = False) -> dict | None:
    """Runs (or resumes) the K-fold job into `out` and returns its metrics.

    With `fold`, trains only that fold (other processes may train the others into the same
    folder) and returns None; `merge` then assembles the run.
    """
    from gapnet.training import worker_index

    if cfg.strategy == "multiworker" and worker_index() > 0:
        # Every worker trains in step; only the chief's files are the run's.
        out = os.path.join(out, f".worker{worker_index()}")
    with RunLock(os.path.join(out, ".lock"), shared=fold is not None):
        root, synthetic, ids, targets, reader, groups = prepare(cfg, log)
        log(f"data: {root} ({'synthetic atlas' if synthetic else 'real data'}), {len(ids)} "
            f"samples, {cfg.image_size}px; model {cfg.model}; {cfg.folds} folds; run folder {out}")
        check_config(out, cfg, force, log)
        folds = assign_folds(cfg, out, ids, targets, groups)
        k_values = sorted(set(folds.tolist()))
        if fold is not None and fold not in k_values:
            raise RunError(f"--fold {fold}: this run has folds {k_values}")
        for k in k_values if fold is None else [fold]:
            run_fold(cfg, out, k, reader, ids, targets, folds, groups, log)
        if fold is not None:
            log(f"fold {fold} finished; when every fold has, assemble the run with --merge")
            return None
        copy = is_copy(ids, groups)
        table = RunTable(cfg, [i for i, c in zip(ids, copy) if not c], targets[~copy],
                         folds[~copy], synthetic, int(copy.sum()))
        return _merge(out, table)


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


def merge(out: str, log=print) -> dict:
    """Assembles a run whose folds were trained separately (`--fold K`): OOF, thresholds,
    metrics and report, from the folder's config.json and folds.csv."""
    with RunLock(os.path.join(out, ".lock")):
        return _merge(out, load_run_table(out, log))


def load_run_table(out: str, log=print) -> RunTable:
    """The scored samples of a run folder, labels read from its data (see `RunTable`)."""
    from gapnet.dataset import open_source

    if not os.path.isfile(os.path.join(out, "config.json")):
        raise RunError(f"{out} is not a run folder (no config.json)")
    cfg = Config.from_file(os.path.join(out, "config.json"))
    root, synthetic = resolve_data(cfg, log)
    table = open_source(root).labels
    ids, folds = _read_fold_table(os.path.join(out, "folds.csv"))
    row = {i: n for n, i in enumerate(table.ids)}
    missing = [i for i in ids if i not in row]
    if missing:
        raise RunError(f"{out}/folds.csv names Ids not in {root}: {missing[:5]}")
    copy = is_copy(ids, [table.groups[row[i]] for i in ids])
    keep = [row[i] for i, c in zip(ids, copy) if not c]
    return RunTable(cfg, [table.ids[n] for n in keep], table.targets[keep], folds[~copy],
                    synthetic, int(copy.sum()))


def _read_fold_table(path: str):
    with open(path, encoding="utf-8") as f:
        rows = [line.strip().split(",") for line in f.readlines()[1:] if line.strip()]
    return [r[0] for r in rows], np.array([int(r[1]) for r in rows], np.int64)


def _merge(out: str, run: RunTable) -> dict:
    ids, folds = run.ids, run.folds
    oof = np.zeros((len(ids), N_CLASSES), np.float32)
    k_values = sorted(set(folds.tolist()))
    unfinished = [k for k in k_values if not fold_done(os.path.join(out, f"fold_{k}"))]
    if unfinished:
        raise RunError(f"{out}: folds {unfinished} have not finished; run them first "
                       "(--fold K), then merge")
    seconds = 0.0
    for k in k_values:
        fold_dir = os.path.join(out, f"fold_{k}")
        val_idx = np.flatnonzero(folds == k)
        fold_ids, probs = read_predictions(os.path.join(fold_dir, "val_predictions.csv"))
        if fold_ids != [ids[i] for i in val_idx]:
            raise RunError(f"{fold_dir}: its predictions do not match this run's fold {k}; "
                           "use a new --out folder")
        oof[val_idx] = probs
        seconds += read_json(os.path.join(fold_dir, "done.json")).get("seconds", float("nan"))
    result = evaluate_oof(run.cfg, run.targets, folds, oof, run.synthetic, run.n_copies)
    result["metrics"]["train_seconds"] = round(seconds, 1)
    write_outputs(out, run.cfg, ids, oof, result)
    return result["metrics"]


def write_outputs(out: str, cfg: Config, ids, oof, result: dict) -> None:
    write_predictions(os.path.join(out, "oof_predictions.csv"), ids, oof)
    atomic_write_json(os.path.join(out, "thresholds.json"), result["thresholds"])
    atomic_write_json(os.path.join(out, "metrics.json"), result["metrics"])
    atomic_write_text(os.path.join(out, "report.md"), reports.markdown(cfg, result["metrics"]))
