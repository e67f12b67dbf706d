"""The one run configuration: a frozen dataclass, overridable from YAML/JSON and `--set`.

Defaults are seed 002's real-data recipe (GapNet, 512 px, Adam 1e-3, binary
cross-entropy, 3 folds, per-class thresholds on a 0.001 grid). `Config.synthetic_default()`
is the recipe of the embedded default run on the synthetic atlas. Every run folder gets
the resolved config as `config.json`, and `Config.from_file` reads it back.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from dataclasses import dataclass, field

import yaml

from gapnet.classes import CHANNELS
from gapnet.config_rules import coerce


@dataclass(frozen=True)
class Config:
    # === Data ===
    data: str | None = None  # Kaggle-layout root; None: the synthetic atlas (generated once)
    image_size: int = 512  # every image is resized to this square size
    pixel_size: float | None = None  # µm per pixel of the images as the model sees them (at
    # image_size): 0.32 for Kaggle 2018's 512-px PNGs, 0.08 x side / image_size for 2021
    # fields (gapnet.data.pixel_size); None: unknown (a user's images are then resized to
    # image_size whatever their µm/px). predict.py resamples a user's image to it first.
    skip_bad: bool = False  # drop samples with bad files (logged) instead of failing
    cache: str = "auto"  # uint8 cache (data_prep/build_cache.py): "auto" if fresh, "off", "require"
    synthetic_n: int = 900  # synthetic atlas: number of samples ...
    synthetic_size: int = 128  # ... their size on disk ...
    synthetic_seed: int = 0  # ... and generator seed
    synthetic_variability: float = 0.0  # ... single-cell variability 0..1 (docs/single_cell.md)
    scheme: str | None = None  # labels: "hpa2018", "hpa2021"; None: from the CSV's header
    # (the synthetic atlas is then hpa2018); a folder's own classes: DIR/classes.csv
    channels: tuple = CHANNELS  # the roles the model sees (any subset holding green), e.g.
    # green,blue for a GFP + DNA screen; input channel k is the k-th in CHANNELS order
    channel_map: dict = field(default_factory=dict)  # file channel name -> role, e.g.
    # {GFP: green, DAPI: blue}: files <Id>_GFP.png; its roles are the run's channels
    # === Model ===
    model: str = "gapnet"
    model_kwargs: dict = field(default_factory=dict)  # builder arguments (gapnet.models.build)
    dropout: float | None = None  # networks: the architecture's dropout rate (None: its own);
    # the one place to set it (not model_kwargs), so that a baseline can run the same recipe
    bn_momentum: float | None = None  # overrides every BatchNorm's moving-average momentum
    normalization: str = "dataset"  # "dataset" (per-channel mean/std), "per_image", "none"
    # === Training ===
    epochs: int = 50
    batch_size: int = 20  # seed 002 (memory-bound at 512 px on a 8 GB GPU)
    grad_accum_steps: int = 1  # apply the averaged gradients every N batches (batch x N)
    optimizer: str = "adam"  # "adam" or "sgd" (momentum 0.9)
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"  # constant, cosine (to 0 over all epochs), sgdr, plateau
    lr_warmup_epochs: int = 0  # constant or cosine: linear warmup from 0 over these epochs first
    sgdr_first_epochs: int = 1  # sgdr: length of the first cycle (cycles double)
    plateau_patience: int = 5  # plateau: halve the LR after this many epochs w/o improvement
    head_epochs: int = 0  # two-stage training: first train only the head for this many epochs
    layer_lr: dict = field(default_factory=dict)  # LR multipliers, e.g. {early: 0.1, middle: 0.33}
    lr_find: bool = False  # LR range test before each fold: lr_finder.png/.json, then training
    oversample_min_count: int = 0  # virtual oversampling (seed 002): every label drawn >= this
    loss: str = "bce"  # bce, weighted_bce, focal, soft_f1, soft_f1_smooth, or "a+b" sums
    focal_gamma: float = 2.0
    focal_alpha: float | None = None
    # How the predicting epoch is chosen; nothing the scored fold holds may decide it.
    # "inner": checkpointing, early stopping and the plateau schedule watch a
    # multilabel-stratified selection set split off the training folds (inner_fraction of
    # them, seeded, written to fold_<k>/inner_val.csv); the scored fold only predicts.
    # "last": no selection, the last epoch predicts (no early stopping, no plateau).
    # "peek": seed 002's way, the scored fold picks the epoch: every figure is labelled
    # "epoch chosen on the scored fold (optimistic)". Kept to reproduce the paper.
    selection: str = "inner"
    inner_fraction: float = 0.1  # selection="inner": held-out share, 1 in round(1/f) samples
    monitor: str = "val_macro_f1"  # selection quantity (on the selection set): or "val_loss"
    early_stopping_patience: int = 10  # epochs; 0 disables early stopping
    precision: str = "float32"  # "float32", "mixed_float16", "mixed_bfloat16"
    strategy: str = (
        "default"  # tf.distribute: default, mirrored (local GPUs), multiworker (TF_CONFIG)
    )
    jit_compile: bool = False  # XLA: 4-5x slower on a 2-core CPU (docs/configuration.md)
    steps_per_execution: int = 1
    seed: int = 0
    deterministic: bool = False  # TF op determinism + deterministic input order
    tensorboard: bool = True  # TensorBoard logs per fold: fold_<k>/tensorboard/{train,validation}
    verbose: int = (
        1  # 0 silent, 1 a progress bar on a terminal (else one line per epoch), 2 one line
    )
    tta: str = "none"  # test-time augmentation for OOF and test predictions: none, flips, d4
    # === Cross-validation ===
    folds: int = 3
    folds_file: str | None = None  # reuse an `Id,fold` CSV instead of splitting
    # === Thresholds ===
    threshold_strategy: str = "f1_search"  # "f1_search", "frequency", or "fixed"
    threshold_step: float = 0.001  # grid of the per-class F1 search (seed 002)
    threshold_fixed: float = 0.5  # used by "fixed", and for classes with no positives
    # === Augmentation (training only; each transform switchable, probabilities per sample) ===
    augment: bool = True
    aug_backend: str = "auto"  # "cpu": OpenCV+NumPy in tf.data; "device": Keras layer on
    # the batch, inside the model; "auto": "device" when TensorFlow sees a GPU, else "cpu"
    aug_hflip: float = 0.5
    aug_vflip: float = 0.5
    aug_rot90: float = 0.5  # probability of a random multiple of 90 degrees
    aug_affine: float = 0.5  # probability of the fused affine below
    aug_scale: tuple = (0.9, 1.1)
    aug_translate: float = 0.05  # fraction of the side
    aug_rotate: float = 20.0  # degrees, +-
    aug_shear: float = 5.0  # degrees, +-
    aug_crop: float = 0.3  # probability of cropping away up to aug_crop_max at each side
    aug_crop_max: float = 0.1
    aug_blur: float = 0.5  # probability of a Gaussian blur with sigma in 0..aug_blur_sigma
    aug_blur_sigma: float = 0.5
    aug_contrast: float = 0.3  # probability of contrast x aug_contrast_range around the mean
    aug_contrast_range: tuple = (0.5, 1.5)
    aug_brightness: float = 0.3  # probability of brightness x aug_brightness_range ...
    aug_brightness_range: tuple = (0.8, 1.2)
    aug_brightness_per_channel: float = 0.2  # ... sampled per channel with this probability
    aug_noise: float = 0.2  # probability of additive Gaussian noise ...
    aug_noise_std: float = 0.02  # ... with this std (images scaled to 0..1) ...
    aug_noise_per_channel: float = 0.5  # ... sampled per pixel and channel with this probability

    # === Construction ===
    @classmethod
    def synthetic_default(cls, epochs: int = 12) -> "Config":
        """The embedded default run: GapNet on the synthetic atlas, <= 10 min on 2 CPU cores.

        The learning rate warms up over the first quarter of `epochs` (3 of 12).
        """
        # Measured on the 900-sample atlas (whole 3-fold jobs, cross-fitted OOF macro-F1;
        # docs/synthetic.md): this short schedule underfits, so dropout 0.1 and only the
        # label-preserving flips and rotations (without them 0.517 against 0.573; adding
        # the affine lost 0.014). Batch 16 beat 12 and 24. BatchNorm momentum 0.9: at Keras'
        # 0.99 the moving statistics lag the weights over 38 steps an epoch and the
        # validation predictions swing. Per-image standardization (GapNet-PL's). A cosine
        # schedule after a linear warmup: at a 3e-3 peak, 1 to 4 warmup epochs gave 0.573,
        # 0.595, 0.597 and 0.546; with 3, peaks of 4e-3, 3e-3, 2e-3, 1.5e-3 and 1e-3 gave
        # 0.591, 0.597, 0.611, 0.647 and 0.641. Seed 002's plain BCE beat positive-weighted
        # BCE and focal loss (fold-0 probes).
        # The cosine schedule ends at 0 and nothing stops early, so the last epoch predicts
        # (selection="last"): no epoch is chosen on any data. Decided before any draw was
        # scored this way (docs/evaluation.md has inner vs last vs peek on draw 0).
        return cls(
            image_size=128,
            epochs=epochs,
            batch_size=16,
            learning_rate=1.5e-3,
            lr_warmup_epochs=epochs // 4,
            lr_schedule="cosine",
            selection="last",
            normalization="per_image",
            bn_momentum=0.9,
            early_stopping_patience=0,
            dropout=0.1,
            aug_affine=0.0,
            aug_crop=0.0,
            aug_blur=0.0,
            aug_contrast=0.0,
            aug_brightness=0.0,
            aug_noise=0.0,
        )

    @classmethod
    def from_dict(cls, values: dict, base: "Config | None" = None) -> "Config":
        """`base` (default: the defaults) with `values` applied, type-checked."""
        base = base or cls()
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown config key(s) {unknown}. Valid keys: {sorted(known)}")
        checked = {k: coerce(k, v, hints[k]) for k, v in values.items()}
        cfg = dataclasses.replace(base, **checked)
        cfg.check()
        return cfg

    @classmethod
    def from_file(cls, path: str | os.PathLike, base: "Config | None" = None) -> "Config":
        """Reads a YAML or JSON file of config keys (e.g. a run's `config.json`)."""
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of config keys, got {type(values)}")
        values.pop("_meta", None)
        try:
            return cls.from_dict(values, base)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None

    def with_overrides(self, assignments: list[str]) -> "Config":
        """Applies `key=value` strings (values parsed as YAML: 0.5, true, [1, 2], null)."""
        values = {}
        for a in assignments:
            key, sep, raw = a.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--set expects key=value, got {a!r}")
            values[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        return self.from_dict(values, self)

    def to_dict(self) -> dict:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @property
    def channel_set(self):
        """The run's `gapnet.channels.ChannelSet` (roles and file channel names)."""
        from gapnet.channels import make_channel_set

        return make_channel_set(self.channels, self.channel_map)

    # === Checks ===
    def check(self) -> None:
        """Raises ValueError naming the first out-of-range value (`gapnet.config_rules`)."""
        from gapnet.config_rules import check

        check(self)
