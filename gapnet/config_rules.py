"""The rules a `gapnet.Config` must satisfy (`check`) and how a value from a file or
`--set` is checked against a key's type (`coerce`). Pure functions; `Config.from_dict`
and `Config.check` call them."""

from __future__ import annotations

import dataclasses
import re
import types
import typing


def check(cfg) -> None:
    """Raises ValueError naming the first out-of-range value."""
    choices = {
        "normalization": ("dataset", "per_image", "none"),
        "cache": ("auto", "off", "require"),
        "strategy": ("default", "mirrored", "multiworker"),
        "optimizer": ("adam", "sgd"),
        "precision": ("float32", "mixed_float16", "mixed_bfloat16"),
        "threshold_strategy": ("f1_search", "frequency", "fixed"),
        "aug_backend": ("auto", "cpu", "device"),
        "lr_schedule": ("constant", "cosine", "sgdr", "plateau"),
        "tta": ("none", "flips", "d4"),
        "selection": ("inner", "last", "peek"),
    }
    from gapnet.schemes import SCHEMES

    if cfg.scheme is not None and cfg.scheme not in SCHEMES:
        raise ValueError(f"scheme={cfg.scheme!r}; expected one of {tuple(SCHEMES)} or null")
    from gapnet.channels import make_channel_set

    make_channel_set(cfg.channels, cfg.channel_map)  # ValueError naming the bad channel
    if not 0 <= cfg.synthetic_variability <= 1:
        raise ValueError(
            f"synthetic_variability must be in [0, 1], got {cfg.synthetic_variability}"
        )
    for key, allowed in choices.items():
        if getattr(cfg, key) not in allowed:
            raise ValueError(f"{key}={getattr(cfg, key)!r}; expected one of {allowed}")
    for key in (
        "image_size",
        "epochs",
        "batch_size",
        "grad_accum_steps",
        "folds",
        "synthetic_n",
        "synthetic_size",
        "steps_per_execution",
    ):
        if getattr(cfg, key) < 1:
            raise ValueError(f"{key} must be >= 1, got {getattr(cfg, key)}")
    if cfg.folds < 2:
        raise ValueError(f"folds must be >= 2 for cross-validation, got {cfg.folds}")
    if not 0 <= cfg.lr_warmup_epochs < cfg.epochs:
        raise ValueError(f"lr_warmup_epochs must be in [0, epochs), got {cfg.lr_warmup_epochs}")
    if cfg.lr_warmup_epochs and cfg.lr_schedule not in ("constant", "cosine"):
        raise ValueError(
            f"lr_warmup_epochs works with the constant and cosine schedules, "
            f"not {cfg.lr_schedule!r}"
        )
    if not 0 < cfg.inner_fraction < 0.5:
        raise ValueError(f"inner_fraction must be in (0, 0.5), got {cfg.inner_fraction}")
    if cfg.selection == "last" and (cfg.early_stopping_patience or cfg.lr_schedule == "plateau"):
        raise ValueError(
            "selection='last' trains every epoch and watches nothing: it "
            "cannot early-stop or use the plateau schedule (set "
            "early_stopping_patience=0, or selection='inner')"
        )
    if "dropout" in cfg.model_kwargs:
        raise ValueError("set the dropout rate with the dropout key, not model_kwargs")
    if cfg.pixel_size is not None and not 0 < cfg.pixel_size < float("inf"):
        raise ValueError(f"pixel_size must be > 0 (µm per pixel) or null, got {cfg.pixel_size}")
    if cfg.dropout is not None and not 0 <= cfg.dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {cfg.dropout}")
    if cfg.bn_momentum is not None and not 0 <= cfg.bn_momentum < 1:
        raise ValueError(f"bn_momentum must be in [0, 1), got {cfg.bn_momentum}")
    if not 0 < cfg.threshold_step < 1:
        raise ValueError(f"threshold_step must be in (0, 1), got {cfg.threshold_step}")
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if (
            f.name.startswith("aug_")
            and isinstance(v, float)
            and not f.name.endswith(("rotate", "shear", "sigma", "std", "max", "translate"))
            and not 0 <= v <= 1
        ):
            raise ValueError(f"{f.name} is a probability; got {v}")
    for key in ("aug_scale", "aug_contrast_range", "aug_brightness_range"):
        lo, hi = getattr(cfg, key)
        if not 0 < lo <= hi:
            raise ValueError(f"{key} must be (low, high) with 0 < low <= high, got {(lo, hi)}")


# PyYAML follows YAML 1.1, where a float needs a dot: "3e-4" loads as a string.
_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _real(x):
    """`x` as a float if it is a number or a YAML-1.1 string like "3e-4", else None."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    if isinstance(x, str) and _SCIENTIFIC.fullmatch(x.strip()):
        return float(x)
    return None


def coerce(key: str, value, hint):
    """Checks `value` against the field's type hint, converting lists to tuples."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        real = _real(value)
        if real is not None:
            return real
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is tuple and key == "channels":  # "green,blue" or [green, blue]
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, (list, tuple)) and all(isinstance(x, str) for x in items):
            return tuple(x.strip().lower() for x in items if x.strip())
    elif hint is dict and key == "channel_map" and isinstance(value, str):  # "GFP=green,..."
        from gapnet.channels import parse_channel_map

        return parse_channel_map(value)
    elif hint is tuple:
        reals = [_real(x) for x in value] if isinstance(value, (list, tuple)) else []
        if len(reals) == 2 and None not in reals:
            return tuple(reals)
    elif hint is dict:
        if isinstance(value, dict):
            return dict(value)
    raise ValueError(
        f"config key {key!r}: {value!r} is not a valid {getattr(hint, '__name__', hint)}"
    )
