"""The main job: K-fold cross-validation of one model into a run folder (format:
`gapnet.cv.runfolder`), resumable fold by fold, then OOF thresholds and metrics
(`gapnet.cv.evaluate`).

Augmented copies (`data_prep/oversample.py`) train with their source's fold but are never
scored. The report (`gapnet.report.write_report`) is written from the finished folder.
"""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np

from gapnet import models
from gapnet.config import Config
from gapnet.cv.evaluate import evaluate_oof
from gapnet.cv.folds import inner_split, make_folds
from gapnet.cv.runfolder import (
    RunError,
    fold_dir,
    fold_done,
    mark_done,
    read_folds,
    read_predictions,
    write_folds,
    write_predictions,
    write_scores,
)
from gapnet.cv.runlock import RunLock, check_config
from gapnet.cv.runread import RunTable, is_copy, load_run, record_data
from gapnet.cv.sizes import require_fit
from gapnet.data.prepare import Prepared, prepare
from gapnet.io import atomic_write_json, atomic_write_text, read_json
from gapnet.training.build import augment_backend, jit_compile_warning


def plan_folds(cfg: Config, ids, targets, groups=None) -> np.ndarray:
    """The run's folds, in memory: from --folds-file, or split (augmented copies in their
    source's fold). Nothing is written, so `require_fit` can check them first."""
    if cfg.folds_file:
        return read_folds(cfg.folds_file, ids)
    return make_folds(targets, cfg.folds, cfg.seed, groups)


def save_folds(out: str, ids, folds) -> None:
    """Writes `out`/folds.csv, or checks that the one there holds the same folds."""
    path = os.path.join(out, "folds.csv")
    if os.path.isfile(path):
        if not np.array_equal(read_folds(path, ids), folds):
            raise RunError(
                f"{path} differs from this run's folds (other data or seed?); use a new --out"
            )
    else:
        write_folds(path, ids, folds)


def fold_indices(cfg: Config, k: int, folds, targets, groups, path: str, ids, seed: int):
    """(train, select, scored) sample indices of fold k under `cfg.selection`.

    scored: fold k's originals (augmented copies train but are never scored). train and
    select: the training folds split by `gapnet.cv.folds.inner_split` ("inner", the
    selection Ids written to `path`/inner_val.csv), the scored fold itself ("peek"), or no
    selection set (None: "last", and the scikit-learn baselines, which have no epochs).
    `seed` (the fold's) seeds the inner split.
    """
    copy = is_copy(ids, groups)
    scored = np.flatnonzero((folds == k) & ~copy)
    train = np.flatnonzero(folds != k)
    if not models.spec(cfg.model).network or cfg.selection == "last":
        return train, None, scored
    if cfg.selection == "peek":
        return train, scored, scored
    train, select = inner_split(targets, train, cfg.inner_fraction, seed, groups, copy)
    atomic_write_text(
        os.path.join(path, "inner_val.csv"), "Id\n" + "".join(f"{ids[i]}\n" for i in select)
    )
    return train, select, scored


def train_fold(cfg: Config, task, log=print) -> np.ndarray:
    """Trains one fold (`gapnet.training.fit.FoldTask`) from scratch, or resumes it, and
    returns the probabilities of its scored samples."""
    if not models.spec(cfg.model).network:
        from gapnet.data.pipeline import PngReader
        from gapnet.models import baselines

        r = task.reader
        small = PngReader(
            r.image_dir, r.ext, r.ids, baselines.FEATURE_SIZE, getattr(r, "channels", None)
        )
        return baselines.fit_predict(
            cfg.model,
            small,
            task.targets,
            task.train_idx,
            task.scored_idx,
            task.fold_dir,
            task.seed,
            **cfg.model_kwargs,
        )
    from gapnet.training.fit import fit
    from gapnet.training.predict import predict

    model = fit(cfg, task, log)
    return predict(model, task.reader, task.scored_idx, cfg.batch_size, cfg.tta)


def run_fold(cfg: Config, out: str, k: int, data: Prepared, folds, log=print) -> None:
    """Trains fold k unless it already finished on the same data (`Prepared.fingerprint`,
    recorded in done.json); a fold interrupted mid-way resumes, unless it started on
    other data (`started.json`), when it starts again."""
    from gapnet.training import resume
    from gapnet.training.fit import FoldTask

    path = fold_dir(out, k)
    os.makedirs(path, exist_ok=True)
    with RunLock(os.path.join(path, ".lock")):
        if fold_done(path):
            trained_on = read_json(os.path.join(path, "done.json")).get("data")
            if trained_on in (None, data.fingerprint):  # None: a fold from before the record
                log(f"fold {k}: already finished, skipped")
                return
            log(
                f"fold {k}: finished on other data (an image file or a label changed since, "
                "by size, modification time or value): trained again"
            )
            os.remove(os.path.join(path, "done.json"))
        started = os.path.join(path, "started.json")  # the data a fold's epochs were on
        was = read_json(started).get("data") if os.path.isfile(started) else None
        if resume.load_state(path) is not None and was not in (None, data.fingerprint):
            log(
                f"fold {k}: interrupted, but started on other data (an image file or a label "
                "changed since): its epochs are dropped and it starts again"
            )
            resume.clear(path)
        atomic_write_json(started, {"data": data.fingerprint})
        seed = cfg.seed + k  # the fold's seed: inner split, initialisation, data order
        train, select, scored = fold_indices(
            cfg, k, folds, data.targets, data.groups, path, data.ids, seed
        )
        if select is None:
            chosen = "no epoch selection"
        elif cfg.selection == "peek":
            chosen = "the scored fold chooses the epoch (optimistic)"
        else:
            chosen = f"{len(select)} held-out training samples choose the epoch"
        log(f"fold {k}: training on {len(train)}, scoring {len(scored)} samples; {chosen}")
        task = FoldTask(data.reader, data.targets, train, select, scored, path, k, seed)
        start = time.perf_counter()
        probs = train_fold(cfg, task, log)
        write_predictions(
            os.path.join(path, "val_predictions.csv"), [data.ids[i] for i in scored], probs
        )
        mark_done(
            path,
            models.spec(cfg.model).fold_files,
            k,
            seconds=round(time.perf_counter() - start, 1),
            data=data.fingerprint,
        )
        resume.clear(path)


def run_kfold(
    cfg: Config, out: str, log=print, *, fold: int | None = None, force: bool = False
) -> dict | None:
    """Runs (or resumes) the K-fold job into `out` and returns its metrics.

    With `fold`, trains only that fold (other processes may train the others into the same
    folder) and returns None; `merge` then assembles the run. Under a multi-worker strategy
    a non-chief worker writes to `out/.worker<i>` (`gapnet.training.distribute`).
    """
    from gapnet.training.distribute import run_folder

    out = run_folder(out, cfg.strategy)
    fresh = not os.path.isdir(out)
    try:
        return _run_kfold(cfg, out, log, fold, force)
    except BaseException:
        if fresh:  # refused (or failed) before writing anything: leave no empty folder
            with contextlib.suppress(OSError):
                os.rmdir(out)  # only ever removes an empty folder
        raise


def _run_kfold(cfg: Config, out: str, log, fold: int | None, force: bool) -> dict | None:
    with RunLock(os.path.join(out, ".lock"), shared=fold is not None):
        data = prepare(cfg, log)
        log(
            f"data: {data.root} ({'synthetic atlas' if data.synthetic else 'real data'}), "
            f"{len(data.ids)} samples, {cfg.image_size}px; model {cfg.model}; {cfg.folds} "
            f"folds; run folder {out}"
        )
        if models.spec(cfg.model).network:
            log(f"augmentation: {augment_backend(cfg) or 'off'} (aug_backend={cfg.aug_backend})")
            warning = jit_compile_warning(cfg)
            if warning:
                log(warning)
        # Before anything is written: the estimate (can the samples be split at all?),
        # then the folds' real sizes, split in memory.
        require_fit(cfg, data.ids, data.groups)
        folds = plan_folds(cfg, data.ids, data.targets, data.groups)
        require_fit(cfg, data.ids, data.groups, folds)
        check_config(out, cfg, force, log)
        record_data(out, data.root, data.synthetic, data.classes)
        save_folds(out, data.ids, folds)
        k_values = sorted(set(folds.tolist()))
        if fold is not None and fold not in k_values:
            raise RunError(f"--fold {fold}: this run has folds {k_values}")
        for k in k_values if fold is None else [fold]:
            run_fold(cfg, out, k, data, folds, log)
        if fold is not None:
            log(f"fold {fold} finished; when every fold has, assemble the run with --merge")
            return None
        copy = is_copy(data.ids, data.groups)
        table = RunTable(
            cfg,
            [i for i, c in zip(data.ids, copy, strict=True) if not c],
            data.targets[~copy],
            folds[~copy],
            data.synthetic,
            int(copy.sum()),
        )
        return _merge(out, table)


def merge(out: str, log=print) -> dict:
    """Assembles a run whose folds were trained separately (`--fold K`): OOF predictions,
    thresholds and metrics, from the folder's config.json and folds.csv."""
    with RunLock(os.path.join(out, ".lock")):
        run = load_run(out, log)
        on = {}  # data fingerprint -> the folds trained on it (folds before the record: none)
        for k in sorted(set(run.folds.tolist())):
            done = os.path.join(fold_dir(out, k), "done.json")
            fp = read_json(done).get("data") if os.path.isfile(done) else None
            if fp:
                on.setdefault(fp, []).append(k)
        if len(on) > 1:
            log(
                "warning: the folds were trained on different data (an image file or a label "
                f"changed between them): folds {' vs '.join(str(v) for v in on.values())}; "
                "rerun each fold (--fold K) on the data as it is now, which retrains the "
                "others, then merge"
            )
        return _merge(out, run)


def _merge(out: str, run: RunTable) -> dict:
    ids, folds = run.ids, run.folds
    oof = np.zeros((len(ids), run.targets.shape[1]), np.float32)
    k_values = sorted(set(folds.tolist()))
    unfinished = [k for k in k_values if not fold_done(fold_dir(out, k))]
    if unfinished:
        raise RunError(
            f"{out}: folds {unfinished} have not finished; run them first (--fold K), then merge"
        )
    seconds = 0.0
    for k in k_values:
        path = fold_dir(out, k)
        val_idx = np.flatnonzero(folds == k)
        fold_ids, probs = read_predictions(os.path.join(path, "val_predictions.csv"))
        if fold_ids != [ids[i] for i in val_idx]:
            raise RunError(
                f"{path}: its predictions do not match this run's fold {k}; use a new --out folder"
            )
        oof[val_idx] = probs
        seconds += read_json(os.path.join(path, "done.json")).get("seconds", float("nan"))
    result = evaluate_oof(run.cfg, run.targets, folds, oof, run.synthetic, run.n_copies)
    result["metrics"]["train_seconds"] = round(seconds, 1)
    write_scores(out, ids, oof, result)
    return result["metrics"]
