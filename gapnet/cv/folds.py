"""Fold assignment: multilabel-stratified K-fold (iterative stratification), seeded; the
train/val/test split and the inner selection split. The folds CSV is read and written by
`gapnet.cv.runfolder`."""

from __future__ import annotations

import numpy as np


def _per_group(targets, groups):
    """(first member of each group, group of each sample) when some groups have several
    samples (augmented copies); None when every sample is its own group."""
    if groups is None:
        return None
    keys, first, inverse = np.unique(np.asarray(groups), return_index=True, return_inverse=True)
    return (first, inverse) if len(keys) < len(targets) else None


def make_folds(targets: np.ndarray, k: int = 3, seed: int = 0, groups=None) -> np.ndarray:
    """Fold index (0..k-1) per sample, each label's positives spread evenly over the folds.

    groups: optional group key per sample (e.g. `LabelTable.groups`: the original an
    augmented copy derives from); the originals are split, and every member of a group
    gets its group's fold, so no copy of a validation sample is trained on.
    """
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

    targets = np.asarray(targets)
    grouped = _per_group(targets, groups)
    if grouped:
        first, inverse = grouped
        return make_folds(targets[first], k, seed)[inverse]
    if len(targets) < k:
        raise ValueError(f"{len(targets)} samples cannot be split into {k} folds")
    folds = np.empty(len(targets), np.int64)
    splitter = MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (_, val) in enumerate(splitter.split(np.zeros(len(targets)), targets)):
        folds[val] = fold
    return folds


def make_split(
    targets: np.ndarray, val: float = 0.1, test: float = 0.1, seed: int = 0, groups=None
) -> np.ndarray:
    """ "train" / "val" / "test" per sample, multilabel-stratified (seed 000: 80/10/10)."""
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    targets = np.asarray(targets)
    grouped = _per_group(targets, groups)
    if grouped:
        first, inverse = grouped
        return make_split(targets[first], val, test, seed)[inverse]
    split = np.full(len(targets), "train", dtype=object)
    rest = np.arange(len(targets))
    for name, share in (("test", test), ("val", val)):
        if share <= 0:
            continue
        frac = share * len(targets) / len(rest)
        splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=frac, random_state=seed)
        keep, take = next(splitter.split(np.zeros(len(rest)), targets[rest]))
        split[rest[take]] = name
        rest = rest[keep]
    return split.astype(str)


def inner_split(
    targets: np.ndarray, train_idx, fraction: float = 0.1, seed: int = 0, groups=None, is_copy=None
) -> tuple[np.ndarray, np.ndarray]:
    """Splits a fold's training samples into (fit, select): the selection set drives
    checkpointing, early stopping and the plateau schedule, so that the scored fold does not.

    Multilabel-stratified and seeded: the selection set is one part of a
    `round(1 / fraction)`-fold iterative stratification of the originals (0.1: one in
    ten), which, unlike a stratified shuffle split, never comes out empty on small data.
    With `groups` and `is_copy` (augmented copies: the group is the Id of their original),
    only originals are drawn into the selection set and the copies of a selected original
    are left out of both parts, so no copy of a selection sample is trained on.

    Returns:
        (fit indices, selection indices), both subsets of `train_idx`, sorted.
    """
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

    train_idx = np.sort(np.asarray(train_idx))
    originals = train_idx if is_copy is None else train_idx[~np.asarray(is_copy)[train_idx]]
    parts = max(2, int(round(1 / fraction)))
    if len(originals) < parts:
        raise ValueError(
            f"{len(originals)} training samples are too few to hold out a "
            f"selection set of 1 in {parts}; use selection='last'"
        )
    splitter = MultilabelStratifiedKFold(n_splits=parts, shuffle=True, random_state=seed)
    _, take = next(splitter.split(np.zeros(len(originals)), np.asarray(targets)[originals]))
    select = np.sort(originals[take])
    if groups is None:
        return np.setdiff1d(train_idx, select), select
    groups = np.asarray(groups)
    return train_idx[~np.isin(groups[train_idx], groups[select])], select
