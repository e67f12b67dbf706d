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


def train_cell_model(crops: np.ndarray, targets: np.ndarray, cfg: CellModelConfig):
    """A model trained on (n, s, s, 4) uint8 crops with (n, C) 0/1 targets (their images'
    labels), for cfg.epochs, no selection (nothing is held out to choose on)."""
    if len(crops) != len(targets):
        raise ValueError(f"{len(crops)} crops but {len(targets)} target rows")
    model = build_cell_model(cfg, targets.shape[1])
    model.fit(
        crops,
        np.asarray(targets, np.float32),
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        shuffle=True,
        verbose=0,
    )
    return model


def predict_cells(model, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """(n, C) outputs of the model for x, in batches: a direct call, so that no
    tf.function is retraced for each new model or batch shape (as `predict` would)."""
    if not len(x):
        return np.zeros((0, model.output_shape[-1]), np.float32)
    return np.concatenate(
        [np.asarray(model(x[i : i + batch], training=False)) for i in range(0, len(x), batch)]
    ).astype(np.float32)


def cross_fit(crops, targets, folds, cfg: CellModelConfig, log=print, folder=None) -> np.ndarray:
    """(n, C) out-of-fold cell probabilities: fold k's cells scored by a model trained on
    the other folds' cells (folds by image: `cell_folds`). With `folder`, each fold's model
    (`fold_<k>.keras`) and scores (`fold_<k>.npy`) are kept there as it finishes, and a
    finished fold is read back instead of retrained (a killed run resumes)."""
    import os

    folds = np.asarray(folds)
    oof = np.zeros(np.shape(targets), np.float32)
    if folder:
        os.makedirs(folder, exist_ok=True)
    for k in sorted(set(folds.tolist())):
        train, score = folds != k, folds == k
        pred = os.path.join(folder, f"fold_{k}.npy") if folder else None
        if pred and os.path.isfile(pred):
            kept = np.load(pred)
            if kept.shape != (score.sum(), oof.shape[1]):
                raise ValueError(
                    f"{pred} holds {kept.shape} scores but fold {k} has {score.sum()} cells "
                    f"of {oof.shape[1]} classes: made from other cells; use a new run folder"
                )
            oof[score] = kept
            log(f"cell model, fold {k}: finished earlier, read back")
            continue
        log(f"cell model, fold {k}: training on {train.sum()} cells, scoring {score.sum()}")
        model = train_cell_model(crops[train], targets[train], cfg)
        oof[score] = predict_cells(model, crops[score])
        if pred:
            model.save(os.path.join(folder, f"fold_{k}.keras"))
            np.save(pred + ".tmp.npy", oof[score])
            os.replace(pred + ".tmp.npy", pred)
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
