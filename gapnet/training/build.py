"""Building and compiling a fold's model from the Config: preprocessing (device augmentation,
normalization), the architecture, BatchNorm momentum, optimizer, learning-rate schedule,
loss and the streaming macro-F1.
"""

from __future__ import annotations

import inspect
import os
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import tensorflow as tf

from gapnet import models
from gapnet.classes import N_CLASSES
from gapnet.config import Config
from gapnet.data.augment import AugmentRecipe
from gapnet.models.device_augment import device_augment
from gapnet.models.layers import PerImageStandardization
from gapnet.training import losses
from gapnet.training.macro_f1 import MacroF1
from gapnet.training.optimizers import ScaledAdam, ScaledSGD, ShiftedSchedule, group_multipliers

NORM_SAMPLES = 256  # training samples read to estimate the per-channel mean and variance


def setup(cfg: Config, seed: int) -> None:
    """Seeds Python, NumPy and TF; sets the precision policy and op determinism."""
    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(cfg.precision)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()


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


def augment_backend(cfg: Config) -> str | None:
    """Where training augmentation runs: "cpu" (tf.data), "device" (a layer of the model)
    or None (`augment` off). `aug_backend="auto"` picks "device" when TensorFlow sees a GPU
    and "cpu" otherwise: on a 2-core CPU the CPU recipe (measured with albumentations)
    trained faster than the same recipe as Keras ops
    (docs/benchmarks.md, "Augmentation back end"); on a GPU the
    batched ops cost the accelerator little and free the CPU for reading."""
    if not cfg.augment:
        return None
    if cfg.aug_backend != "auto":
        return cfg.aug_backend
    return "device" if tf.config.list_physical_devices("GPU") else "cpu"


def build_model(
    cfg: Config, reader, train_idx, seed: int, n_classes: int = N_CLASSES
) -> keras.Model:
    """The configured architecture with its preprocessing (`to_float`, then augmentation
    and normalization), for the run's C input channels (`cfg.channel_set`), with
    `n_classes` outputs (the scheme's: 28 or 19, or a folder's own classes)."""
    preprocess = []
    if augment_backend(cfg) == "device":
        preprocess.append(device_augment(AugmentRecipe.from_config(cfg), seed=seed))
    if cfg.normalization == "dataset":
        mean, var = channel_stats(reader, train_idx, seed)
        preprocess.append(
            keras.layers.Normalization(axis=-1, mean=mean, variance=var, name="normalize")
        )
    elif cfg.normalization == "per_image":
        preprocess.append(PerImageStandardization(name="normalize"))
    roles = cfg.channel_set.roles
    shape = (reader.size, reader.size, len(roles))
    kwargs = dict(cfg.model_kwargs)
    if len(roles) != 4 and "channels" in inspect.signature(models.spec(cfg.model).build).parameters:
        kwargs["channels"] = roles  # a transfer model adapts its first convolution to them
    if cfg.dropout is not None:
        kwargs["dropout"] = cfg.dropout
    model = models.build(cfg.model, shape, n_classes, preprocess=preprocess, **kwargs)
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
    warmup = cfg.lr_warmup_epochs * steps_per_epoch
    if cfg.lr_schedule == "cosine" or warmup:
        # Linear warmup from 0, then cosine decay to 0 over the remaining steps (alpha=1:
        # no decay, for the constant schedule). Keras' CosineDecay does both.
        alpha = 0.0 if cfg.lr_schedule == "cosine" else 1.0
        decay = max(cfg.epochs * steps_per_epoch - warmup, 1)
        cosine = keras.optimizers.schedules.CosineDecay
        schedule = (
            cosine(cfg.learning_rate, decay, alpha)
            if not warmup
            else cosine(0.0, decay, alpha, warmup_target=cfg.learning_rate, warmup_steps=warmup)
        )
        return ShiftedSchedule(schedule, first_epoch * steps_per_epoch) if first_epoch else schedule
    return cfg.learning_rate


def compile_model(
    model: keras.Model,
    cfg: Config,
    steps_per_epoch: int = 1,
    train_targets=None,
    first_epoch: int = 0,
) -> keras.Model:
    lr = learning_rate(cfg, steps_per_epoch, first_epoch)
    # Differential learning rates per layer group (seed 000) when layer_lr is set.
    extra = {"lr_multipliers": group_multipliers(model, cfg.layer_lr)} if cfg.layer_lr else {}
    # Gradient accumulation: a large effective batch in the memory of a small one.
    accum = (
        {"gradient_accumulation_steps": cfg.grad_accum_steps} if cfg.grad_accum_steps > 1 else {}
    )
    if cfg.optimizer == "adam":
        opt = (ScaledAdam if extra else keras.optimizers.Adam)(learning_rate=lr, **extra, **accum)
    else:
        opt = (ScaledSGD if extra else keras.optimizers.SGD)(
            learning_rate=lr, momentum=0.9, **extra, **accum
        )
    loss = losses.get(cfg.loss, train_targets, cfg.focal_gamma, cfg.focal_alpha)
    model.compile(
        optimizer=opt,
        loss=loss,
        metrics=[MacroF1(model.output_shape[-1])],
        jit_compile=cfg.jit_compile,
        steps_per_execution=cfg.steps_per_execution,
    )
    return model


def jit_compile_warning(cfg: Config, gpus: int | None = None) -> str | None:
    """The warning for `jit_compile` (XLA) on a machine without a GPU (None otherwise):
    measured slower there (docs/configuration.md). `gpus`: the GPUs TensorFlow sees
    (default: asked)."""
    if not cfg.jit_compile:
        return None
    if gpus is None:
        gpus = len(tf.config.list_physical_devices("GPU"))
    if gpus:
        return None
    return (
        "warning: jit_compile (XLA) on a machine without a GPU: measured 4-5x slower "
        "(GapNet at 512 px, batch 20, 2 CPU cores: 0.78-0.91 img/s against 3.4-4.2 without "
        "it, 7.7 GB resident against 5.8 GB); leave it off on a CPU (docs/configuration.md)"
    )
