"""Does a config fit the data? The checks a K-fold run makes before it writes or trains
anything, so that a config that cannot apply to the data (the README's 512-px recipe on a
handful of samples) gets one message listing every key to change, not one traceback per key.

Checked: enough samples for the folds (augmented copies count with their original), and,
for a network with `selection="inner"`, enough training samples per fold to hold out a
selection set (1 in `round(1 / inner_fraction)`, at least 2), with what "last" needs in turn
(no early stopping, no plateau schedule: they watch the selection set).
"""

from __future__ import annotations

import math

import numpy as np

from gapnet import models
from gapnet.config import Config
from gapnet.cv.runfolder import RunError
from gapnet.cv.runread import is_copy


class ConfigDataMismatch(RunError):
    """The config cannot run on this data. The message lists every problem and the
    `--set` changes that make it run; `changes` holds them as a dict."""

    def __init__(self, message: str, changes: dict):
        super().__init__(message)
        self.changes = changes


def fit_problems(cfg: Config, ids, groups=None, folds=None) -> tuple[list[str], dict]:
    """Every way `cfg` does not fit the samples `ids` (with their `groups`, and their
    `folds` once assigned; None: estimated from `cfg.folds`), and the config changes that
    fix them ({} when nothing can: too few samples for any cross-validation)."""
    groups = list(ids) if groups is None else list(groups)
    copy = is_copy(ids, groups)
    units, originals = len(set(groups)), int((~copy).sum())
    problems: list[str] = []
    changes: dict = {}
    k = cfg.folds
    if folds is None and not cfg.folds_file:
        if units < 2:
            problems.append(
                f"{units} usable sample(s): cross-validation needs at least 2 (add data, "
                "or fix the files --skip-bad dropped)"
            )
            return problems, {}
        if units < k:
            problems.append(f"folds={k}: {units} samples cannot be split into {k} folds")
            changes["folds"] = k = units
    if models.spec(cfg.model).network and cfg.selection == "inner":
        parts = max(2, int(round(1 / cfg.inner_fraction)))
        if folds is None:
            fewest = originals - math.ceil(originals / k)
        else:
            folds = np.asarray(folds)
            fewest = min(int(((folds != f) & ~copy).sum()) for f in set(folds.tolist()))
        if fewest < parts:
            problems.append(
                f"selection='inner' holds out 1 in {parts} of a fold's training samples to "
                f"choose the epoch; a fold here trains on {fewest} (at least {parts} needed)"
            )
            changes["selection"] = "last"
            if cfg.early_stopping_patience:
                problems.append(
                    f"early_stopping_patience={cfg.early_stopping_patience} watches the "
                    "selection set, which selection='last' does not have"
                )
                changes["early_stopping_patience"] = 0
            if cfg.lr_schedule == "plateau":
                problems.append(
                    "lr_schedule='plateau' watches the selection set, which "
                    "selection='last' does not have"
                )
                changes["lr_schedule"] = "constant"
    return problems, changes


def require_fit(cfg: Config, ids, groups=None, folds=None) -> None:
    """Raises ConfigDataMismatch listing every problem of `fit_problems` at once."""
    problems, changes = fit_problems(cfg, ids, groups, folds)
    if not problems:
        return
    lines = [f"the config does not fit this data ({len(ids)} samples):"]
    lines += [f"  - {p}" for p in problems]
    if changes:
        flags = " ".join(f"--set {key}={value}" for key, value in changes.items())
        lines.append(f"to run on it anyway: {flags}")
    raise ConfigDataMismatch("\n".join(lines), changes)
