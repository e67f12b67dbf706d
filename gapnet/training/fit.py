"""Training one fold with `model.fit` on the tf.data pipeline, resumable epoch by epoch.

Seed 002's recipe by default: Adam 1e-3, binary cross-entropy, the streaming macro-F1,
the predicting epoch chosen on the selection set held out of the training folds
(`Config.selection`; never on the scored fold unless "peek"), early stopping, CSV history.
Two-stage training (head first), the LR range test and tf.distribute plug in here.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import keras
import numpy as np

from gapnet import models
from gapnet.config import Config
from gapnet.data.augment import AugmentRecipe, CpuAugmenter
from gapnet.data.pipeline import make_dataset, steps_per_epoch
from gapnet.training import distribute, resume
from gapnet.training.build import augment_backend, build_model, compile_model, setup
from gapnet.training.callbacks import SGDR, LearningRateLog
from gapnet.training.predict import load_model


@dataclass(frozen=True)
class FoldTask:
    """What one fold trains on: the samples `reader` reads (with their `targets`), the
    indices it trains on, chooses the epoch on (None: the last epoch predicts) and scores,
    its folder, and its seed (the run's seed + the fold index, computed once)."""

    reader: object
    targets: np.ndarray
    train_idx: np.ndarray
    select_idx: np.ndarray | None
    scored_idx: np.ndarray
    fold_dir: str
    fold: int = 0
    seed: int = 0


def callbacks(
    cfg: Config, fold_dir: str, steps_per_epoch: int = 1, fold=None, select: bool = True
) -> list:
    """The fold's callbacks; the resume bookkeeping (`gapnet.training.resume.EpochState`) goes last.

    With `select`, checkpointing (and early stopping, the plateau schedule) watch
    `cfg.monitor` on the validation data given to `fit`, the selection set; without, every
    epoch is saved and the last one is the fold's model.
    """
    mode = "min" if cfg.monitor.endswith("loss") else "max"
    cbs = [resume.StopOnNaN(fold)]
    if cfg.lr_schedule == "sgdr":
        cbs.append(SGDR(cfg.learning_rate, 0.0, cfg.sgdr_first_epochs * steps_per_epoch, 2.0))
    elif cfg.lr_schedule == "plateau" and select:  # GapNet-PL: halve on a macro-F1 plateau
        cbs.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=cfg.monitor, mode=mode, factor=0.5, patience=cfg.plateau_patience
            )
        )
    cbs += [
        resume.BestModel(
            os.path.join(fold_dir, "model.keras"),
            monitor=cfg.monitor if select else None,
            mode=mode,
        ),
        LearningRateLog(),
        keras.callbacks.CSVLogger(os.path.join(fold_dir, "history.csv"), append=True),
    ]
    if cfg.tensorboard:  # after LearningRateLog, so the rate is logged too
        cbs.append(
            keras.callbacks.TensorBoard(os.path.join(fold_dir, "tensorboard"), write_graph=False)
        )
    if cfg.early_stopping_patience > 0 and select:
        cbs.append(
            keras.callbacks.EarlyStopping(
                monitor=cfg.monitor, mode=mode, patience=cfg.early_stopping_patience
            )
        )
    return cbs


def range_test(model, cfg: Config, train, steps: int, y_train, fold_dir: str, n: int = 100):
    """The LR range test (seed 000, Fig. 3): `fold_dir/lr_finder.json` (rates, losses and the
    suggestion; the run's report plots it).

    The model's weights are restored afterwards and it is compiled afresh for training, so
    the test changes nothing but what it reports; the configured learning rate is kept.
    """
    from gapnet.io import atomic_write_json
    from gapnet.training.callbacks import LRFinder

    constant = Config.from_dict({"lr_schedule": "constant", "lr_warmup_epochs": 0}, cfg)
    compile_model(model, constant, steps, y_train)  # LRFinder sets the rate itself
    finder = LRFinder(1e-6, 1.0, steps=n)
    # Batches of one size, so each batch's loss is recovered exactly from Keras' running mean.
    batches = train.unbatch().repeat().batch(cfg.batch_size, drop_remainder=True)
    model.fit(batches, steps_per_epoch=n, epochs=1, verbose=0, callbacks=[finder])
    atomic_write_json(
        os.path.join(fold_dir, "lr_finder.json"),
        {"lr": finder.lrs, "loss": finder.losses, "suggestion": finder.suggestion()},
    )
    print(
        f"LR range test: suggested learning rate {finder.suggestion():.2g} "
        f"(configured {cfg.learning_rate:g}); the report plots {fold_dir}/lr_finder.json"
    )


def datasets(cfg: Config, task: FoldTask, epochs=None, strategy=None):
    """The training dataset (augmented, shuffled, oversampled as configured) and the
    selection set's (None without one).

    With a multi-worker `strategy`, the training data is a distributed dataset in which
    each worker reads only its replicas' shares of every global batch
    (`make_dataset(shard=...)`); the selection set is left to TensorFlow's sharding.
    """
    augmenter = (
        CpuAugmenter(AugmentRecipe.from_config(cfg)) if augment_backend(cfg) == "cpu" else None
    )
    weights = None
    if cfg.oversample_min_count > 0:  # virtual oversampling: copies as sampling weights
        from gapnet.data.oversample import sampling_weights

        weights = np.ones(len(task.reader))
        weights[task.train_idx] = sampling_weights(
            np.asarray(task.targets)[task.train_idx], cfg.oversample_min_count, task.seed
        )
    reader = task.reader if strategy is None else distribute.ReadCounter(task.reader)

    def train_data(shard=None):
        return make_dataset(
            reader,
            task.targets,
            cfg.batch_size,
            training=True,
            augmenter=augmenter,
            seed=task.seed,
            deterministic=True,
            indices=task.train_idx,
            weights=weights,
            epochs=epochs,
            shard=shard,
        )

    if strategy is None:
        train = train_data()
    else:
        train = strategy.distribute_datasets_from_function(
            lambda ctx: train_data(distribute.shard_of(ctx))
        )
        train.reads = reader  # the counter, for the log
    val = (
        None
        if task.select_idx is None
        else make_dataset(
            task.reader, task.targets, cfg.batch_size, training=False, indices=task.select_idx
        )
    )
    return train, val


def _stages(cfg: Config) -> list[tuple[str, int, int]]:
    """(name, first epoch, stop epoch) of each training stage."""
    if 0 < cfg.head_epochs < cfg.epochs:
        return [("head", 0, cfg.head_epochs), ("full", cfg.head_epochs, cfg.epochs)]
    return [("full", 0, cfg.epochs)]


def _stage_start(cfg: Config, stage: str) -> int:
    return next(first for name, first, _ in _stages(cfg) if name == stage)


def _current_rate(model):
    """The optimizer's current float learning rate (None before compile or for a schedule)."""
    opt = getattr(model, "optimizer", None)
    if opt is None or isinstance(
        opt._learning_rate, keras.optimizers.schedules.LearningRateSchedule
    ):
        return None
    return float(opt.learning_rate)


def _set_stage(model, stage: str) -> None:
    head = {id(layer) for layer in models.layer_groups(model)["head"]}
    for layer in models.flat_layers(model):
        layer.trainable = stage == "full" or id(layer) in head


def fit(cfg: Config, task: FoldTask, log=print) -> keras.Model:
    """Trains, or resumes an interrupted fold; returns the fold's model: the best epoch by
    `cfg.monitor` on the selection set, or the last epoch if the task has none.

    With `head_epochs` > 0 (seeds 000, 004): the head alone is trained first for that many
    epochs (the rest frozen), then everything, for `epochs` in all. Every epoch end saves
    the resume state (`gapnet.training.resume`); a fold started again continues after the
    last finished epoch with the same weights, optimizer, RNG states and data order.
    """
    setup(cfg, task.seed)
    os.makedirs(task.fold_dir, exist_ok=True)
    n_select = None if task.select_idx is None else len(task.select_idx)
    distribute.check_selection_size(n_select, cfg.strategy, task.fold)
    with distribute.distribution(cfg.strategy).scope():
        _fit(cfg, task, log)
    return load_model(os.path.join(task.fold_dir, "model.keras"))


def _fit(cfg: Config, task: FoldTask, log) -> None:
    fold_dir, fold = task.fold_dir, task.fold
    history = os.path.join(fold_dir, "history.csv")
    state = resume.load_state(fold_dir)
    multi = distribute.distribution(cfg.strategy) if cfg.strategy == "multiworker" else None
    parts = 1 if multi is None else multi.num_replicas_in_sync
    steps = steps_per_epoch(len(task.train_idx), cfg.batch_size, parts)
    y_train = np.asarray(task.targets)[task.train_idx]
    model = build_model(cfg, task.reader, task.train_idx, task.seed, task.targets.shape[1])
    cbs = callbacks(cfg, fold_dir, steps, fold, select=task.select_idx is not None)
    start, current = 0, None
    if state is None:
        if os.path.exists(history):  # a fold started from scratch; the logger appends
            os.remove(history)
        if cfg.lr_find:
            range_test(model, cfg, datasets(cfg, task)[0], steps, y_train, fold_dir)
    else:
        start, current = state["epoch"], state["stage"]
        _set_stage(model, current)
        compile_model(model, cfg, steps, y_train, _stage_start(cfg, current))
        resume.restore(model, state, fold_dir)
        resume.apply_states(cbs, state)  # again after on_train_begin resets, in its stage
        resume.trim_history(history, start)
        log(f"fold {fold}: resuming after epoch {start} ({current} stage)")
    for stage, first, stop in _stages(cfg):
        first = max(first, start)
        if first >= stop or (state and state["stopped"] and stage == state["stage"]):
            continue
        if stage != current:
            lr = _current_rate(model)
            _set_stage(model, stage)
            compile_model(model, cfg, steps, y_train, first)
            if lr is not None and cfg.lr_schedule == "plateau":  # keep the plateau's cuts
                model.optimizer.learning_rate.assign(lr)
            current = stage
        pending = state if state and stage == state["stage"] else None
        train, val = datasets(cfg, task, (first, stop), multi)
        if multi is not None:
            distribute.build_before_fit(
                model,
                val
                if val is not None
                else make_dataset(
                    task.reader,
                    task.targets,
                    cfg.batch_size,
                    training=False,
                    indices=task.train_idx[: cfg.batch_size],
                ),
            )
        model.fit(
            train,
            validation_data=val,
            steps_per_epoch=steps,
            initial_epoch=first,
            epochs=stop,
            verbose=fit_verbosity(cfg.verbose),
            callbacks=cbs
            + step_lines(cfg.verbose)
            + [resume.EpochState(fold_dir, stage, cbs, pending)],
        )
        if multi is not None:
            log(
                f"fold {fold}: worker {distribute.worker_index()} read {train.reads.count} "
                f"training samples in epochs {first + 1}-{stop} ({parts} replicas share "
                "every global batch)"
            )


def fit_verbosity(verbose: int) -> int:
    """Keras' `verbose`: a progress bar (1) only on a terminal; in a log file, CI or under
    nohup one line per epoch (2) instead of a bar redrawn at every step (`step_lines` adds
    a line every 5 % of the epoch's steps)."""
    return 2 if verbose == 1 and not sys.stdout.isatty() else verbose


def step_lines(verbose: int) -> list:
    """[StepProgress()] where `fit_verbosity` drops the bar for one line per epoch."""
    from gapnet.training.callbacks import StepProgress

    return [StepProgress()] if verbose == 1 and not sys.stdout.isatty() else []
