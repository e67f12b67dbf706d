"""Training one model with `model.fit` on the tf.data pipeline, and predicting with it.

Seed 002's recipe by default: Adam 1e-3, binary cross-entropy, the streaming macro-F1
(`gapnet.metrics.MacroF1`), the best epoch kept by macro-F1 (or loss) on the selection set
held out of the training folds (`Config.selection`; never on the scored fold unless "peek"),
early stopping, CSV history, Keras progress bars.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import tensorflow as tf

from gapnet import losses, models
from gapnet.augment import CpuAugmenter, device_augment
from gapnet.classes import N_CLASSES
from gapnet.config import Config
from gapnet.layers import PerImageStandardization
from gapnet.metrics import MacroF1
from gapnet.optimizers import ScaledAdam, ScaledSGD, group_multipliers
from gapnet.pipeline import make_dataset

NORM_SAMPLES = 256  # training samples read to estimate the per-channel mean and variance


def setup(cfg: Config, seed: int) -> None:
    """Seeds Python, NumPy and TF; sets the precision policy and op determinism."""
    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(cfg.precision)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()


_STRATEGIES: dict = {}


def distribution(name: str):
    """The tf.distribute strategy of a run, created once per process.

    "default": one device; "mirrored": MirroredStrategy over all local GPUs;
    "multiworker": MultiWorkerMirroredStrategy, its cluster from the TF_CONFIG environment
    variable (create it before any other TF op: run_kfold.py does so at start-up).
    """
    if name not in _STRATEGIES:
        if name == "mirrored":
            _STRATEGIES[name] = tf.distribute.MirroredStrategy()
        elif name == "multiworker":
            _STRATEGIES[name] = tf.distribute.MultiWorkerMirroredStrategy()
            _patch_keras_multiworker()
        else:
            _STRATEGIES[name] = tf.distribute.get_strategy()
    return _STRATEGIES[name]


def _patch_keras_multiworker() -> None:
    """Works around keras-team/keras#20585 (Keras 3 `fit` under MultiWorkerMirroredStrategy).

    Keras reduces each step's logs across workers with `strategy.reduce("MEAN", v, axis=0)`,
    which fails on scalar logs. The logs are metric results whose variables are already
    aggregated across workers, so each worker's single local value is the global one:
    taking it (Keras' single-worker path) gives the same logs. Gradients are untouched.
    """
    from keras.src.backend.tensorflow import trainer

    trainer._collective_all_reduce_multi_worker = lambda strategy: False


def worker_index() -> int:
    """This process's worker index under TF_CONFIG (0, the chief, without it)."""
    import json

    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    return int(task.get("index", 0)) if task.get("type", "worker") == "worker" else 0


def channel_stats(reader, indices, seed: int, n: int = NORM_SAMPLES):
    """Per-channel mean and variance (images in 0..1) over up to n of `indices`."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(indices, size=min(n, len(indices)), replace=False)
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        sums = list(pool.map(lambda i: _moments(reader(int(i))), pick))
    s = np.sum(sums, axis=0)
    mean = s[0] / s[2]
    var = np.maximum(s[1] / s[2] - mean**2, 1e-8)
    return mean, var


def _moments(img: np.ndarray):
    x = img.reshape(-1, img.shape[-1]).astype(np.float64) / 255.0
    return np.stack([x.sum(0), (x * x).sum(0), np.full(x.shape[1], len(x))])


def build_model(cfg: Config, reader, train_idx, seed: int) -> keras.Model:
    """The configured architecture with its preprocessing (augmentation, normalization)."""
    preprocess = []
    if cfg.augment and cfg.aug_backend == "device":
        preprocess.append(device_augment(cfg, seed=seed))
    if cfg.normalization == "dataset":
        mean, var = channel_stats(reader, train_idx, seed)
        preprocess.append(keras.layers.Normalization(axis=-1, mean=mean, variance=var,
                                                     name="normalize"))
    elif cfg.normalization == "per_image":
        preprocess.append(PerImageStandardization(name="normalize"))
    shape = (reader.size, reader.size, 4)
    kwargs = dict(cfg.model_kwargs)
    if cfg.dropout is not None:
        kwargs["dropout"] = cfg.dropout
    model = models.build(cfg.model, shape, N_CLASSES, preprocess=preprocess, **kwargs)
    if cfg.bn_momentum is not None:
        # Keras' 0.99 averages over ~100 steps: on a short schedule the moving statistics
        # lag the weights and the validation predictions swing from epoch to epoch.
        for layer in models.flat_layers(model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = cfg.bn_momentum
    return model


def learning_rate(cfg: Config, steps_per_epoch: int, first_epoch: int = 0):
    """The optimizer's learning rate: a float, or a schedule for cosine decay and warmup.

    The schedule is one curve over all `cfg.epochs`: an optimizer created at `first_epoch`
    (the full stage of two-stage training) continues it from there instead of restarting.
    """
    from gapnet.optimizers import ShiftedSchedule

    warmup = cfg.lr_warmup_epochs * steps_per_epoch
    if cfg.lr_schedule == "cosine" or warmup:
        # Linear warmup from 0, then cosine decay to 0 over the remaining steps (alpha=1:
        # no decay, for the constant schedule). Keras' CosineDecay does both.
        alpha = 0.0 if cfg.lr_schedule == "cosine" else 1.0
        decay = max(cfg.epochs * steps_per_epoch - warmup, 1)
        cosine = keras.optimizers.schedules.CosineDecay
        schedule = (cosine(cfg.learning_rate, decay, alpha) if not warmup else
                    cosine(0.0, decay, alpha, warmup_target=cfg.learning_rate,
                           warmup_steps=warmup))
        return ShiftedSchedule(schedule, first_epoch * steps_per_epoch) if first_epoch else schedule
    return cfg.learning_rate


def compile_model(model: keras.Model, cfg: Config, steps_per_epoch: int = 1,
                  train_targets=None, first_epoch: int = 0) -> keras.Model:
    lr = learning_rate(cfg, steps_per_epoch, first_epoch)
    # Differential learning rates per layer group (seed 000) when layer_lr is set.
    extra = {"lr_multipliers": group_multipliers(model, cfg.layer_lr)} if cfg.layer_lr else {}
    # Gradient accumulation: a large effective batch in the memory of a small one.
    accum = {"gradient_accumulation_steps": cfg.grad_accum_steps} if cfg.grad_accum_steps > 1 else {}
    if cfg.optimizer == "adam":
        opt = (ScaledAdam if extra else keras.optimizers.Adam)(learning_rate=lr, **extra, **accum)
    else:
        opt = (ScaledSGD if extra else keras.optimizers.SGD)(learning_rate=lr, momentum=0.9,
                                                              **extra, **accum)
    loss = losses.get(cfg.loss, train_targets, cfg.focal_gamma, cfg.focal_alpha)
    model.compile(optimizer=opt, loss=loss, metrics=[MacroF1(N_CLASSES)],
                  jit_compile=cfg.jit_compile, steps_per_execution=cfg.steps_per_execution)
    return model


def callbacks(cfg: Config, fold_dir: str, steps_per_epoch: int = 1, fold=None,
              select: bool = True) -> list:
    """The fold's callbacks; the resume bookkeeping (`gapnet.resume.EpochState`) goes last.

    With `select`, checkpointing (and early stopping, the plateau schedule) watch
    `cfg.monitor` on the validation data given to `fit`, the selection set; without, every
    epoch is saved and the last one is the fold's model.
    """
    from gapnet.resume import BestModel, StopOnNaN

    mode = "min" if cfg.monitor.endswith("loss") else "max"
    cbs = [StopOnNaN(fold)]
    if cfg.lr_schedule == "sgdr":
        from gapnet.callbacks import SGDR

        cbs.append(SGDR(cfg.learning_rate, 0.0, cfg.sgdr_first_epochs * steps_per_epoch, 2.0))
    elif cfg.lr_schedule == "plateau" and select:  # GapNet-PL: halve on a macro-F1 plateau
        cbs.append(keras.callbacks.ReduceLROnPlateau(monitor=cfg.monitor, mode=mode, factor=0.5,
                                                     patience=cfg.plateau_patience))
    cbs += [
        BestModel(os.path.join(fold_dir, "model.keras"), monitor=cfg.monitor if select else None,
                  mode=mode),
        keras.callbacks.CSVLogger(os.path.join(fold_dir, "history.csv"), append=True),
    ]
    if cfg.early_stopping_patience > 0 and select:
        cbs.append(keras.callbacks.EarlyStopping(monitor=cfg.monitor, mode=mode,
                                                 patience=cfg.early_stopping_patience))
    return cbs


def range_test(model, cfg: Config, train, steps: int, y_train, fold_dir: str, n: int = 100):
    """The LR range test (seed 000, Fig. 3): plot and suggestion in the fold folder.

    The model's weights are restored afterwards and it is compiled afresh for training, so
    the test changes nothing but what it reports; the configured learning rate is kept.
    """
    from gapnet.callbacks import LRFinder
    from gapnet.io import atomic_write_json

    constant = Config.from_dict({"lr_schedule": "constant", "lr_warmup_epochs": 0}, cfg)
    compile_model(model, constant, steps, y_train)  # LRFinder sets the rate itself
    finder = LRFinder(1e-6, 1.0, steps=n)
    # Batches of one size, so each batch's loss is recovered exactly from Keras' running mean.
    batches = train.unbatch().repeat().batch(cfg.batch_size, drop_remainder=True)
    model.fit(batches, steps_per_epoch=n, epochs=1, verbose=0, callbacks=[finder])
    finder.plot(os.path.join(fold_dir, "lr_finder.png"))
    atomic_write_json(os.path.join(fold_dir, "lr_finder.json"),
                      {"lr": finder.lrs, "loss": finder.losses, "suggestion": finder.suggestion()})
    print(f"LR range test: suggested learning rate {finder.suggestion():.2g} "
          f"(configured {cfg.learning_rate:g}); plot in {fold_dir}/lr_finder.png")


def datasets(cfg: Config, reader, targets, train_idx, val_idx, seed: int, epochs=None):
    augmenter = CpuAugmenter(cfg) if cfg.augment and cfg.aug_backend == "cpu" else None
    weights = None
    if cfg.oversample_min_count > 0:  # virtual oversampling: copies as sampling weights
        from gapnet.oversample import sampling_weights

        weights = np.ones(len(reader))
        weights[train_idx] = sampling_weights(np.asarray(targets)[train_idx],
                                              cfg.oversample_min_count, seed)
    train = make_dataset(reader, targets, cfg.batch_size, training=True, augmenter=augmenter,
                         seed=seed, deterministic=True, indices=train_idx, weights=weights,
                         epochs=epochs)
    val = None if val_idx is None else make_dataset(reader, targets, cfg.batch_size,
                                                    training=False, indices=val_idx)
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
    if opt is None or isinstance(opt._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return None
    return float(opt.learning_rate)


def _set_stage(model, stage: str) -> None:
    head = {id(layer) for layer in models.layer_groups(model)["head"]}
    for layer in models.flat_layers(model):
        layer.trainable = stage == "full" or id(layer) in head


def fit(cfg: Config, reader, targets, train_idx, val_idx, fold_dir: str, seed: int,
        fold=None, log=print):
    """Trains, or resumes an interrupted fold; returns the fold's model: the best epoch by
    `cfg.monitor` on `val_idx` (the selection set), or the last epoch if `val_idx` is None.

    With `head_epochs` > 0 (seeds 000, 004): the head alone is trained first for that many
    epochs (the rest frozen), then everything, for `epochs` in all. Every epoch end saves
    the resume state (`gapnet.resume`); a fold started again continues after the last
    finished epoch with the same weights, optimizer, RNG states and data order.
    """
    setup(cfg, seed)
    os.makedirs(fold_dir, exist_ok=True)
    replicas = distribution(cfg.strategy).num_replicas_in_sync
    if val_idx is not None and len(val_idx) < replicas:
        # Some replica would get no validation sample: the collective ops abort.
        from gapnet.resume import TrainingError

        raise TrainingError(f"fold {fold}: the selection set has {len(val_idx)} samples, fewer "
                            f"than the {replicas} replicas; raise inner_fraction or use "
                            "selection='last'")
    with distribution(cfg.strategy).scope():
        _fit(cfg, reader, targets, train_idx, val_idx, fold_dir, seed, fold, log)
    return keras.saving.load_model(os.path.join(fold_dir, "model.keras"), safe_mode=True)


def _build_before_fit(model, data) -> None:
    """Builds metrics, loss and optimizer from a local batch, then stops `fit` from doing it.

    Keras 3's TF trainer builds them from a batch of the distributed dataset reduced with
    `strategy.reduce`, which fails under MultiWorkerMirroredStrategy (keras-team/keras
    #20585: "Attempt to convert a value (PerReplica...)"). Built beforehand, nothing is lost.
    """
    model._symbolic_build(data_batch=next(iter(data.take(1))))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def _fit(cfg: Config, reader, targets, train_idx, val_idx, fold_dir: str, seed: int, fold, log):
    from gapnet import resume

    history = os.path.join(fold_dir, "history.csv")
    state = resume.load_state(fold_dir)
    steps = -(-len(train_idx) // cfg.batch_size)
    y_train = np.asarray(targets)[train_idx]
    model = build_model(cfg, reader, train_idx, seed)
    cbs = callbacks(cfg, fold_dir, steps, fold, select=val_idx is not None)
    start, current = 0, None
    if state is None:
        if os.path.exists(history):  # a fold started from scratch; the logger appends
            os.remove(history)
        if cfg.lr_find:
            range_test(model, cfg, datasets(cfg, reader, targets, train_idx, val_idx, seed)[0],
                       steps, y_train, fold_dir)
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
        train, val = datasets(cfg, reader, targets, train_idx, val_idx, seed, (first, stop))
        if cfg.strategy == "multiworker":
            _build_before_fit(model, train if val is None else val)
        model.fit(train, validation_data=val, steps_per_epoch=steps, initial_epoch=first,
                  epochs=stop, verbose=fit_verbosity(cfg.verbose),
                  callbacks=cbs + [resume.EpochState(fold_dir, stage, cbs, pending)])


def fit_verbosity(verbose: int) -> int:
    """Keras' `verbose`: a progress bar (1) only on a terminal; in a log file, CI or under
    nohup one line per epoch (2) instead of a bar redrawn at every step."""
    import sys

    return 2 if verbose == 1 and not sys.stdout.isatty() else verbose


def predict(model: keras.Model, reader, indices, batch_size: int, tta: str = "none") -> np.ndarray:
    """Probabilities (n, 28) for the samples `indices` of `reader`, in that order."""
    ds = make_dataset(reader, None, batch_size, training=False, indices=indices)
    if tta != "none":
        from gapnet.tta import predict as predict_tta

        return predict_tta(model, ds, tta)
    return np.asarray(model.predict(ds, verbose=0), np.float32)
