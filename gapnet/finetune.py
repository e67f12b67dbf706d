"""Head fine-tuning of a finished K-fold run (seed 002, section 4.1).

For each fold: load the fold's model, freeze the convolution chain (every layer outside
`models.layer_groups(model)["head"]`; frozen BatchNorm runs in inference mode), train only
the fully connected head on the fold's training samples with the chosen loss for a fixed
number of epochs (the last one kept: nothing is chosen on the scored fold), and re-predict
the fold's scored samples (originals). Writes `RUN/finetune_<loss>/` with the files of a
run (fold models, oof_predictions.csv, thresholds.json, metrics.json, report.md) and
`before_after.md`.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from gapnet import kfold, models, reports, training
from gapnet.config import Config
from gapnet.evaluate import evaluate_oof
from gapnet.cv import read_folds
from gapnet.io import atomic_write_text, read_json


def freeze_all_but_head(model: keras.Model) -> list:
    """Sets trainable=False on every layer outside the head; returns the head layers."""
    head = models.layer_groups(model)["head"]
    head_ids = {id(layer) for layer in head}
    for layer in models.flat_layers(model):
        layer.trainable = id(layer) in head_ids
    return head


def finetune_run(run: str, loss: str = "bce", epochs: int = 5, lr: float = 1e-4,
                 log=print) -> dict:
    """Fine-tunes the heads of every fold of `run`; returns the new metrics."""
    cfg = Config.from_file(os.path.join(run, "config.json"))
    cfg = Config.from_dict({"loss": loss, "epochs": epochs, "learning_rate": lr,
                            "lr_schedule": "constant", "early_stopping_patience": 0}, cfg)
    out = os.path.join(run, f"finetune_{loss.replace('+', '_plus_')}")
    os.makedirs(out, exist_ok=True)
    _, synthetic, ids, targets, reader, groups = kfold.prepare(cfg, log)
    folds = read_folds(os.path.join(run, "folds.csv"), ids)
    copy = kfold.is_copy(ids, groups)  # augmented copies train, but are never scored
    oof = np.zeros((len(ids), targets.shape[1]), np.float32)
    for k in sorted(set(folds.tolist())):
        fold_dir = os.path.join(out, f"fold_{k}")
        train_idx, val_idx = np.flatnonzero(folds != k), np.flatnonzero((folds == k) & ~copy)
        if kfold.fold_done(fold_dir):
            log(f"fold {k}: already fine-tuned, skipped")
        else:
            log(f"fold {k}: fine-tuning the head on {len(train_idx)} samples ({loss}, {epochs} epochs)")
            training.setup(cfg, cfg.seed + k)
            model = keras.saving.load_model(os.path.join(run, f"fold_{k}", "model.keras"),
                                            safe_mode=True)
            freeze_all_but_head(model)
            steps = -(-len(train_idx) // cfg.batch_size)
            training.compile_model(model, cfg, steps, targets[train_idx])
            # A fixed number of epochs, the last one kept: nothing is chosen on the scored fold.
            train, _ = training.datasets(cfg, reader, targets, train_idx, None, cfg.seed + k)
            os.makedirs(fold_dir, exist_ok=True)
            model.fit(train, epochs=epochs, verbose=training.fit_verbosity(cfg.verbose),
                      callbacks=[keras.callbacks.CSVLogger(os.path.join(fold_dir, "history.csv"))])
            model.save(os.path.join(fold_dir, "model.keras"))
            probs = training.predict(model, reader, val_idx, cfg.batch_size, cfg.tta)
            kfold.write_predictions(os.path.join(fold_dir, "val_predictions.csv"),
                                    [ids[i] for i in val_idx], probs)
            kfold.mark_done(fold_dir, kfold.FOLD_FILES["keras"], k)
        oof[val_idx] = kfold.read_predictions(os.path.join(fold_dir, "val_predictions.csv"))[1]
    scored = [i for i, c in zip(ids, copy) if not c]
    result = evaluate_oof(cfg, targets[~copy], folds[~copy], oof[~copy], synthetic,
                                int(copy.sum()))
    kfold.write_outputs(out, cfg, scored, oof[~copy], result)
    before = read_json(os.path.join(run, "metrics.json"))
    atomic_write_text(os.path.join(out, "before_after.md"),
                      reports.before_after(before, result["metrics"], loss))
    return result["metrics"]
