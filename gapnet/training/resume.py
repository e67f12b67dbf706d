"""Resuming an interrupted fold at its last finished epoch, and the callbacks that make it safe.

At the end of every epoch `EpochState` writes `fold_<k>/resume/`: the model and optimizer
variables (`epoch_<e>.weights.h5`), the dropout/augmentation RNG states (`epoch_<e>.npz`)
and `state.json` (the next epoch, the training stage, the state of the stateful
callbacks). `state.json` is written last and atomically, so it always names a complete
epoch; a run killed at any point restarts from it. The training data of epoch e is a
function of (seed, e) (`gapnet.data.pipeline.make_dataset(epochs=...)`), so in deterministic
mode a resumed fold ends with exactly the weights of an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import math
import os
import shutil

import keras
import numpy as np

from gapnet.io import atomic_write_bytes, atomic_write_json, read_json

RESUME_DIR = "resume"

# The attributes that carry each stateful callback across epochs.
_STATE_ATTRS = {
    "BestModel": ("best",),
    "EarlyStopping": ("wait", "best", "best_epoch", "stopped_epoch"),
    "ReduceLROnPlateau": ("wait", "best", "cooldown_counter"),
    "SGDR": ("step",),
}


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message says where and why."""


class BestModel(keras.callbacks.Callback):
    """Saves the model whenever `monitor` improves, atomically (temporary file, rename);
    with `monitor=None`, at every epoch (the last one is kept)."""

    def __init__(self, path: str, monitor: str | None = "val_macro_f1", mode: str = "max"):
        super().__init__()
        self.path, self.monitor, self.mode = path, monitor, mode
        self.best = -math.inf if mode == "max" else math.inf

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor is None:
            return self._save()
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise TrainingError(
                f"cannot monitor {self.monitor!r}: the epoch logged {sorted(logs or {})}"
            )
        value = float(value)
        if (value > self.best) if self.mode == "max" else (value < self.best):
            self.best = value
            self._save()

    def _save(self):
        tmp = self.path[: -len(".keras")] + ".tmp.keras"
        self.model.save(tmp, overwrite=True)
        os.replace(tmp, self.path)


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first non-finite loss with an error naming fold, epoch and batch."""

    def __init__(self, fold=None):
        super().__init__()
        self.fold, self.epoch = fold, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            where = f"fold {self.fold}, " if self.fold is not None else ""
            raise TrainingError(
                f"{where}epoch {self.epoch + 1}, batch {batch + 1}: the training loss became "
                f"{float(loss)}; training stopped. The last finished epoch is kept; lower the "
                "learning rate (or use float32) and rerun with --force to resume from it."
            )


def _rng_variables(model) -> list:
    # Keras keeps seed-generator states out of weight files; dropout and the device
    # augmentation draw from them, so a resumed epoch needs them back.
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def callback_states(callbacks) -> list:
    return [
        {a: _plain(getattr(cb, a, None)) for a in _STATE_ATTRS.get(type(cb).__name__, ())}
        for cb in callbacks
    ]


def _plain(v):
    return float(v) if isinstance(v, (np.floating, np.integer)) else v


def apply_states(callbacks, state: dict, where: str = "the resume state") -> None:
    """Restores the saved states onto the callbacks that keep state, in order (callbacks
    without state, such as the learning-rate log, may be added between versions).
    A saved set that does not fit the callbacks (the config changed under --force) stops
    with an error naming `where`."""
    stateful = [cb for cb in callbacks if _STATE_ATTRS.get(type(cb).__name__)]
    saved_states = [s for s in state["callbacks"] if s]
    names = [type(cb).__name__ for cb in stateful]
    if len(saved_states) != len(stateful) or any(
        set(s) != set(_STATE_ATTRS[n]) for s, n in zip(saved_states, names, strict=False)
    ):
        raise TrainingError(
            f"{where} holds the states of {len(saved_states)} callbacks "
            f"({[sorted(s) for s in saved_states]}), this fold now has {len(stateful)} "
            f"({names}): the training config changed (early stopping or the schedule) since "
            f"the fold was interrupted; delete {where}'s folder to start the fold anew"
        )
    for cb, saved in zip(stateful, saved_states, strict=True):
        for a, v in saved.items():
            setattr(cb, a, v)


class EpochState(keras.callbacks.Callback):
    """Writes the resume state at each epoch end; restores callback states when resuming.

    Place it after every other callback: it records their state after they ran, and
    reapplies a saved state after their `on_train_begin` has reset them.
    """

    def __init__(self, fold_dir: str, stage: str, tracked: list, pending: dict | None = None):
        super().__init__()
        self.dir = os.path.join(fold_dir, RESUME_DIR)
        self.stage, self.tracked, self.pending = stage, tracked, pending

    def on_train_begin(self, logs=None):
        if self.pending:
            apply_states(self.tracked, self.pending, os.path.join(self.dir, "state.json"))
            self.pending = None

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.dir, exist_ok=True)
        stem = os.path.join(self.dir, f"epoch_{epoch + 1}")
        self.model.save_weights(stem + ".tmp.weights.h5")
        os.replace(stem + ".tmp.weights.h5", stem + ".weights.h5")
        buf = io.BytesIO()
        np.savez(buf, *[np.asarray(v) for v in _rng_variables(self.model)])
        atomic_write_bytes(stem + ".npz", buf.getvalue())
        atomic_write_json(
            os.path.join(self.dir, "state.json"),
            {
                "epoch": epoch + 1,
                "stage": self.stage,
                "stopped": bool(self.model.stop_training),
                "callbacks": callback_states(self.tracked),
            },
        )
        for f in os.listdir(self.dir):  # only the epoch state.json names is kept
            if f.startswith("epoch_") and not f.startswith(f"epoch_{epoch + 1}."):
                os.remove(os.path.join(self.dir, f))


def load_state(fold_dir: str) -> dict | None:
    """The saved state of an interrupted fold, or None."""
    path = os.path.join(fold_dir, RESUME_DIR, "state.json")
    return read_json(path) if os.path.isfile(path) else None


def restore(model, state: dict, fold_dir: str) -> None:
    """Loads the weights, optimizer variables and RNG states of `state` into a compiled model."""
    stem = os.path.join(fold_dir, RESUME_DIR, f"epoch_{state['epoch']}")
    model.optimizer.build(model.trainable_variables)
    model.load_weights(stem + ".weights.h5")
    with np.load(stem + ".npz") as rng:
        variables = _rng_variables(model)
        if len(variables) != len(rng.files):
            raise ValueError(
                f"{stem}.npz holds {len(rng.files)} random-generator states, the model has "
                f"{len(variables)}: the fold was started with another model or augmentation "
                "back end (aug_backend=auto on a machine with another device?); rerun with "
                "--force to start the fold anew, or set aug_backend as when it started"
            )
        for v, k in zip(variables, rng.files, strict=True):
            v.assign(rng[k])


def clear(fold_dir: str) -> None:
    shutil.rmtree(os.path.join(fold_dir, RESUME_DIR), ignore_errors=True)


def trim_history(path: str, epochs: int) -> None:
    """Keeps the CSV history rows of the first `epochs` epochs (a killed epoch may have logged)."""
    if not os.path.isfile(path):
        return
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) < epochs]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(kept)
    atomic_write_bytes(path, out.getvalue().encode("utf-8"))
