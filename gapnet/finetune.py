"""Head fine-tuning of a finished K-fold run (seed 002, section 4.1).

For each fold: load the fold's best model, freeze the convolution chain (every layer
outside `models.layer_groups(model)["head"]`; frozen BatchNorm runs in inference mode), train
only the fully connected head on the fold's training samples with the chosen loss, and
re-predict the fold's validation samples. Writes `RUN/finetune_<loss>/` with the files of a
run (fold models, oof_predictions.csv, thresholds.json, metrics.json, report.md) and
`before_after.md`.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from gapnet import kfold, models, reports, training
from gapnet.config import Config
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
    _, synthetic, ids, targets, reader, _ = kfold.prepare(cfg, log)
    folds = read_folds(os.path.join(run, "folds.csv"), ids)
    oof = np.zeros((len(ids), targets.shape[1]), np.float32)
    for k in sorted(set(folds.tolist())):
        fold_dir = os.path.join(out, f"fold_{k}")
        train_idx, val_idx = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
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
            train, val = training.datasets(cfg, reader, targets, train_idx, val_idx, cfg.seed + k)
            os.makedirs(fold_dir, exist_ok=True)
            model.fit(train, validation_data=val, epochs=epochs, verbose=cfg.verbose,
                      callbacks=[keras.callbacks.CSVLogger(os.path.join(fold_dir, "history.csv"))])
            model.save(os.path.join(fold_dir, "model.keras"))
            probs = training.predict(model, reader, val_idx, cfg.batch_size, cfg.tta)
            kfold.write_predictions(os.path.join(fold_dir, "val_predictions.csv"),
                                    [ids[i] for i in val_idx], probs)
            kfold.mark_done(fold_dir, kfold.FOLD_FILES["keras"], k)
        oof[val_idx] = kfold.read_predictions(os.path.join(fold_dir, "val_predictions.csv"))[1]
    result = kfold.evaluate_oof(cfg, ids, targets, folds, oof, synthetic)
    kfold.write_outputs(out, cfg, ids, oof, result)
    before = read_json(os.path.join(run, "metrics.json"))
    atomic_write_text(os.path.join(out, "before_after.md"),
                      reports.before_after(before, result["metrics"], loss))
    return result["metrics"]
