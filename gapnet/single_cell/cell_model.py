"""A cell-level classifier trained with image-level labels only (the 2021 winner's core:
masked cell crops, each labelled with its image's labels), cross-fitted by image.

Any registered network (`gapnet.models`) takes the crops, 8-bit values 0..255 as every
gapnet model; augmentation (the one recipe, on the device) and per-image standardization
are inside the model. `cross_fit` trains one model per image fold and predicts the cells
of the fold's images only: no cell of a scored image ever trains the model that scores it
(the folds come from the image-level stratification, `cell_folds`).

Per-cell scores from the image and cell probabilities (`combine`): the product (the 1st,
8th, 12th and 21st 2021 entries; 12th measured it better than averaging) and the mean (a
geometric mean would rank cells as the product does, so AP could not tell them apart).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

COMBINE = ("product", "mean")


@dataclass(frozen=True)
class CellModelConfig:
    model: str = "gapnet_pl"  # any registered network
    crop_size: int = 64  # px of the square masked crops
    epochs: int = 8
    batch_size: int = 64
    learning_rate: float = 1e-3
    augment: bool = True  # the one augmentation recipe, on the device
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def cell_folds(image_ids, image_folds, cell_image_ids) -> np.ndarray:
    """(n_cells,) each cell's fold: its image's. Pure.

    Raises:
        KeyError: a cell whose image has no fold, naming it."""
    fold_of = dict(zip(image_ids, np.asarray(image_folds).tolist(), strict=True))
    missing = sorted({i for i in cell_image_ids if i not in fold_of})
    if missing:
        raise KeyError(f"cells of images without a fold: {missing[:5]}")
    return np.array([fold_of[i] for i in cell_image_ids], np.int64)


def build_cell_model(cfg: CellModelConfig, n_classes: int):
    import keras

    from gapnet import models
    from gapnet.data.augment import AugmentRecipe
    from gapnet.models.device_augment import device_augment
    from gapnet.models.layers import PerImageStandardization

    keras.utils.set_random_seed(cfg.seed)
    pre = [device_augment(AugmentRecipe(), seed=cfg.seed)] if cfg.augment else []
    pre.append(PerImageStandardization(name="normalize"))
    shape = (cfg.crop_size, cfg.crop_size, 4)
    model = models.build(cfg.model, shape, n_classes, preprocess=pre)
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="binary_crossentropy")
    return model


def _source(crops, targets):
    """(read(cells) -> uint8 crops, labels(cells) -> float32 targets, n) of an in-memory
    (n, s, s, 4) array or a `CellCache`, and targets as an (n, C) array or a function."""
    read = crops.read if hasattr(crops, "read") else (lambda i: np.asarray(crops)[i])
    n = crops.n_cells if hasattr(crops, "n_cells") else len(crops)
    if callable(targets):
        return read, targets, n
    t = np.asarray(targets, np.float32)
    if len(t) != n:
        raise ValueError(f"{n} crops but {len(t)} target rows")
    return read, lambda i: t[i], n


def cell_dataset(read, labels, rows, n_classes: int, crop: int, batch: int, seed: int = 0):
    """An endless tf.data stream of (crops, targets) batches over the cell numbers `rows`,
    reshuffled each epoch; each batch read from its source when needed (a `CellCache`:
    one preadv per crop), so no more than a few batches are held at once."""
    import tensorflow as tf

    rows = np.asarray(rows, np.int64)

    def gen():
        rng = np.random.default_rng(seed)
        while True:
            order = rng.permutation(rows)
            for i in range(0, len(order), batch):
                b = np.sort(order[i : i + batch])  # sorted: the file read in order
                yield read(b), np.asarray(labels(b), np.float32)

    sig = (
        tf.TensorSpec((None, crop, crop, 4), tf.uint8),
        tf.TensorSpec((None, n_classes), tf.float32),
    )
    return tf.data.Dataset.from_generator(gen, output_signature=sig).prefetch(2)


def train_cell_model(crops, targets, cfg: CellModelConfig, rows=None):
    """A model trained on uint8 crops (an (n, s, s, 4) array or a `CellCache`; `rows`:
    the cell numbers to train on, default all) with their images' 0/1 labels (an (n, C)
    array, or a function of cell numbers), for cfg.epochs through tf.data, no selection
    (nothing is held out to choose on)."""
    read, labels, n = _source(crops, targets)
    rows = np.arange(n) if rows is None else np.asarray(rows, np.int64)
    n_classes = np.shape(labels(rows[:1]))[1]
    model = build_cell_model(cfg, n_classes)
    ds = cell_dataset(read, labels, rows, n_classes, cfg.crop_size, cfg.batch_size, cfg.seed)
    steps = max(-(-len(rows) // cfg.batch_size), 1)
    model.fit(ds, epochs=cfg.epochs, steps_per_epoch=steps, verbose=0)
    return model


def predict_cells(model, x, batch: int = 256, rows=None) -> np.ndarray:
    """(n, C) outputs of the model for x (an array, or a `CellCache` read at the cell
    numbers `rows`), in batches: a direct call, so that no tf.function is retraced for
    each new model or batch shape (as `predict` would)."""
    if rows is None and not hasattr(x, "read"):
        read, rows = (lambda i: x[i[0] : i[-1] + 1]), np.arange(len(x))
    else:
        read = x.read if hasattr(x, "read") else (lambda i: np.asarray(x)[i])
        rows = np.arange(x.n_cells) if rows is None else np.asarray(rows, np.int64)
    if not len(rows):
        return np.zeros((0, model.output_shape[-1]), np.float32)
    return np.concatenate(
        [
            np.asarray(model(read(rows[i : i + batch]), training=False))
            for i in range(0, len(rows), batch)
        ]
    ).astype(np.float32)


def cross_fit(
    crops, targets, folds, cfg: CellModelConfig, log=print, folder=None, stamp: str = ""
) -> np.ndarray:
    """(n, C) out-of-fold cell probabilities: fold k's cells scored by a model trained on
    the other folds' cells (folds by image: `cell_folds`). crops: an (n, s, s, 4) array
    or a `CellCache` (read in batches: the crops are never all in memory); targets: (n, C)
    or a function of cell numbers; folds: (n,). With `folder`, each fold's model
    (`fold_<k>.keras`), scores (`fold_<k>.npy`) and the `stamp` of the cells it was made
    from (`fold_<k>.json`) are kept there as it finishes, and a finished fold is read
    back instead of retrained when its stamp is the same (a killed run resumes; a fold
    made from cells since changed is redone)."""
    import json
    import os

    from gapnet.io import atomic_write_text

    read, labels, n = _source(crops, targets)
    folds = np.asarray(folds)
    n_classes = np.shape(labels(np.zeros(1, np.int64)))[1] if n else 0
    oof = np.zeros((n, n_classes), np.float32)
    if folder:
        os.makedirs(folder, exist_ok=True)
    for k in sorted(set(folds.tolist())):
        train, score = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        pred = os.path.join(folder, f"fold_{k}.npy") if folder else None
        meta = os.path.join(folder, f"fold_{k}.json") if folder else None
        if pred and os.path.isfile(pred) and os.path.isfile(meta):
            with open(meta, encoding="utf-8") as f:
                same = json.load(f).get("stamp") == stamp
            kept = np.load(pred)
            if same and kept.shape == (len(score), n_classes):
                oof[score] = kept
                log(f"cell model, fold {k}: finished earlier, read back")
                continue
            log(f"cell model, fold {k}: made from other cells (changed since), redone")
        log(f"cell model, fold {k}: training on {len(train)} cells, scoring {len(score)}")
        model = train_cell_model(crops, labels, cfg, rows=train)
        oof[score] = predict_cells(model, crops, rows=score)
        if pred:
            model.save(os.path.join(folder, f"fold_{k}.keras"))
            np.save(pred + ".tmp.npy", oof[score])
            os.replace(pred + ".tmp.npy", pred)
            atomic_write_text(meta, json.dumps({"stamp": stamp, "n_cells": len(score)}))
    return oof


def combine(image_probs: np.ndarray, cell_probs: np.ndarray, how: str = "product") -> np.ndarray:
    """Per-cell scores from each cell's image probabilities and its own (both (n, C))."""
    a, b = np.asarray(image_probs, np.float64), np.asarray(cell_probs, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"image probabilities {a.shape}, cell probabilities {b.shape}")
    if how == "product":
        return a * b
    if how == "mean":
        return (a + b) / 2
    raise ValueError(f"how must be one of {COMBINE}, not {how!r}")
