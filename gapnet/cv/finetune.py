"""Head fine-tuning of a finished K-fold run (seed 002, section 4.1).

For each fold: load the fold's model, freeze the convolution chain (every layer outside
`models.layer_groups(model)["head"]`; frozen BatchNorm runs in inference mode), train only
the fully connected head on the fold's training samples with the chosen loss for a fixed
number of epochs (the last one kept: nothing is chosen on the scored fold), and re-predict
the fold's scored samples (originals). Writes `RUN/finetune_<loss>/` with the files of a
run (config.json, folds.csv, fold models, oof_predictions.csv, thresholds.json,
metrics.json), so it reads like any run folder;
`experiments/finetune_head.py` adds `before_after.md`.
"""

from __future__ import annotations

import os
import shutil

import keras
import numpy as np

from gapnet import models
from gapnet.config import Config
from gapnet.cv.evaluate import evaluate_oof, selection_label
from gapnet.cv.runfolder import (
    fold_done,
    mark_done,
    read_folds,
    read_predictions,
    write_predictions,
    write_scores,
)
from gapnet.cv.runread import is_copy, record_data
from gapnet.data.prepare import prepare
from gapnet.io import atomic_write_text
from gapnet.training.build import compile_model, setup
from gapnet.training.fit import FoldTask, datasets, fit_verbosity
from gapnet.training.predict import load_model, predict


def freeze_all_but_head(model: keras.Model) -> list:
    """Sets trainable=False on every layer outside the head; returns the head layers."""
    head = models.layer_groups(model)["head"]
    head_ids = {id(layer) for layer in head}
    for layer in models.flat_layers(model):
        layer.trainable = id(layer) in head_ids
    return head


def finetune_dir(run: str, loss: str) -> str:
    """Where `finetune_run(run, loss)` writes: RUN/finetune_<loss> (+ spelled _plus_)."""
    return os.path.join(run, f"finetune_{loss.replace('+', '_plus_')}")


def finetuned_selection(base: Config, epochs: int) -> tuple[str, str]:
    """(config `selection`, `selection_label`) of the fine-tuned run of a run made with
    `base`: the fine-tuning chooses no epoch ("last"), but models whose epoch the base
    run chose on the scored fold ("peek") stay optimistic; the label names both steps."""
    selection = "peek" if base.selection == "peek" else "last"
    label = (
        f"head fine-tuned for {epochs} epoch(s), the last kept, from the run's fold models "
        f"({selection_label(base)})"
    )
    return selection, label


def finetune_run(run: str, loss: str = "bce", epochs: int = 5, lr: float = 1e-4, log=print) -> dict:
    """Fine-tunes the heads of every fold of `run`; returns the new metrics."""
    base = Config.from_file(os.path.join(run, "config.json"))
    selection, label = finetuned_selection(base, epochs)
    cfg = Config.from_dict(
        {
            "loss": loss,
            "epochs": epochs,
            "learning_rate": lr,
            "lr_schedule": "constant",
            "early_stopping_patience": 0,
            "selection": selection,
        },
        base,
    )
    out = finetune_dir(run, loss)
    os.makedirs(out, exist_ok=True)
    # A run folder of its own (compare.py, report.py, predict.py and export.py read it):
    # its config (the fine-tuning's loss, epochs and rate) and the run's folds.
    atomic_write_text(os.path.join(out, "config.json"), cfg.to_json() + "\n")
    shutil.copyfile(os.path.join(run, "folds.csv"), os.path.join(out, "folds.csv"))
    data = prepare(cfg, log)
    record_data(out, data.root, data.synthetic)
    ids, targets = data.ids, data.targets
    folds = read_folds(os.path.join(run, "folds.csv"), ids)
    copy = is_copy(ids, data.groups)  # augmented copies train, but are never scored
    oof = np.zeros((len(ids), targets.shape[1]), np.float32)
    for k in sorted(set(folds.tolist())):
        fold_dir = os.path.join(out, f"fold_{k}")
        task = FoldTask(
            data.reader,
            targets,
            np.flatnonzero(folds != k),
            None,
            np.flatnonzero((folds == k) & ~copy),
            fold_dir,
            k,
            cfg.seed + k,
        )
        if fold_done(fold_dir):
            log(f"fold {k}: already fine-tuned, skipped")
        else:
            log(
                f"fold {k}: fine-tuning the head on {len(task.train_idx)} samples ({loss}, "
                f"{epochs} epochs)"
            )
            setup(cfg, task.seed)
            model = load_model(os.path.join(run, f"fold_{k}", "model.keras"))
            freeze_all_but_head(model)
            steps = -(-len(task.train_idx) // cfg.batch_size)
            compile_model(model, cfg, steps, targets[task.train_idx])
            # A fixed number of epochs, the last one kept: nothing is chosen on the scored fold.
            train, _ = datasets(cfg, task)
            os.makedirs(fold_dir, exist_ok=True)
            model.fit(
                train,
                epochs=epochs,
                verbose=fit_verbosity(cfg.verbose),
                callbacks=[keras.callbacks.CSVLogger(os.path.join(fold_dir, "history.csv"))],
            )
            model.save(os.path.join(fold_dir, "model.keras"))
            probs = predict(model, data.reader, task.scored_idx, cfg.batch_size, cfg.tta)
            write_predictions(
                os.path.join(fold_dir, "val_predictions.csv"),
                [ids[i] for i in task.scored_idx],
                probs,
            )
            mark_done(fold_dir, models.spec(cfg.model).fold_files, k)
        oof[task.scored_idx] = read_predictions(os.path.join(fold_dir, "val_predictions.csv"))[1]
    scored = [i for i, c in zip(ids, copy, strict=True) if not c]
    result = evaluate_oof(
        cfg, targets[~copy], folds[~copy], oof[~copy], data.synthetic, int(copy.sum())
    )
    result["metrics"]["selection_label"] = label  # compare.py and the report state it
    write_scores(out, scored, oof[~copy], result)
    return result["metrics"]
