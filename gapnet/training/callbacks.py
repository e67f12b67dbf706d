"""Plain Keras callbacks for any `model.fit`, in a script or a notebook.

- `MacroF1Callback(validation_data, threshold_search=True)`: at each epoch end, predicts
  the validation data and writes `val_macro_f1_at_0.5` (and `val_macro_f1_tuned`, thresholds
  searched on those same predictions: optimistic, for monitoring) into `logs`, so
  `ModelCheckpoint` / `EarlyStopping` placed after it can monitor them.
- `PerClassF1Logger(validation_data, path)`: per-class F1 at 0.5 per epoch, CSV.
- `ThresholdSearch(validation_data)`: keeps the per-class thresholds of the best epoch
  (by tuned macro-F1) in `.thresholds` and `.best_epoch`.
- `SGDR(base_lr, min_lr, first_cycle, mult)`: cosine annealing with warm restarts, each
  cycle `mult` times longer (seed 000, Fig. 4), stepped per batch.
- `LearningRateLog()`: writes the optimizer's learning rate (for the next step) into the
  epoch's `logs["learning_rate"]`, so a `CSVLogger` after it records the schedule.
- `LRFinder(min_lr, max_lr, steps)`: the LR range test (seed 000, Fig. 3): raises the LR
  exponentially each batch, records each batch's loss, stops when it diverges;
  `.suggestion()` (steepest descent before the minimum); `gapnet.report.figures.lr_finder`
  plots it.
"""

from __future__ import annotations

import csv
import math

import keras
import numpy as np

from gapnet import metrics, thresholds


def _predict(model, validation_data):
    """(y_true, y_prob) for validation data given as (x, y) arrays or a tf.data dataset."""
    if isinstance(validation_data, tuple):
        x, y = validation_data
        return np.asarray(y), np.asarray(model.predict(x, verbose=0))
    ys, ps = [], []
    for x, y in validation_data:
        ys.append(np.asarray(y))
        ps.append(np.asarray(model(x, training=False)))
    return np.concatenate(ys), np.concatenate(ps)


class MacroF1Callback(keras.callbacks.Callback):
    def __init__(self, validation_data, threshold_search: bool = True, step: float = 0.001):
        super().__init__()
        self.validation_data, self.threshold_search, self.step = (
            validation_data,
            threshold_search,
            step,
        )
        self.last = None  # (y_true, y_prob) of the last epoch, for other callbacks

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        y, p = _predict(self.model, self.validation_data)
        self.last = (y, p)
        logs["val_macro_f1_at_0.5"] = metrics.macro_f1(y, p > 0.5)
        if self.threshold_search:
            t = thresholds.search_f1(y, p, self.step)
            logs["val_macro_f1_tuned"] = metrics.macro_f1(y, p > t)


class PerClassF1Logger(keras.callbacks.Callback):
    def __init__(self, validation_data, path: str):
        super().__init__()
        self.validation_data, self.path = validation_data, path
        self.history: list[np.ndarray] = []

    def on_epoch_end(self, epoch, logs=None):
        y, p = _predict(self.model, self.validation_data)
        f1 = metrics.per_class_f1(y, p > 0.5)
        self.history.append(f1)
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            if epoch == 0 or f.tell() == 0:
                w.writerow(["epoch"] + [f"f1_{k}" for k in range(len(f1))])
            w.writerow([epoch] + [f"{v:.6f}" for v in f1])


class ThresholdSearch(keras.callbacks.Callback):
    def __init__(self, validation_data, step: float = 0.001):
        super().__init__()
        self.validation_data, self.step = validation_data, step
        self.best, self.best_epoch, self.thresholds = -1.0, None, None

    def on_epoch_end(self, epoch, logs=None):
        y, p = _predict(self.model, self.validation_data)
        t = thresholds.search_f1(y, p, self.step)
        score = metrics.macro_f1(y, p > t)
        if score > self.best:
            self.best, self.best_epoch, self.thresholds = score, epoch, t


def sgdr_lr(step: int, base_lr: float, min_lr: float, first_cycle: int, mult: float) -> float:
    """The SGDR learning rate at global `step` (pure; cycles of first_cycle * mult**k steps)."""
    cycle, start = first_cycle, 0
    while step >= start + cycle:
        start += cycle
        cycle = int(round(cycle * mult))
    t = (step - start) / cycle
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * t))


class LearningRateLog(keras.callbacks.Callback):
    """Adds the current learning rate to each epoch's logs (a schedule is evaluated at the
    optimizer's step count; a plateau cut or SGDR's assignment is read back)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            lr = self.model.optimizer.learning_rate
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(lr))


class SGDR(keras.callbacks.Callback):
    def __init__(
        self, base_lr: float, min_lr: float = 0.0, first_cycle: int = 100, mult: float = 2.0
    ):
        super().__init__()
        self.base_lr, self.min_lr, self.first_cycle, self.mult = base_lr, min_lr, first_cycle, mult
        self.step, self.lrs = 0, []

    def on_train_batch_begin(self, batch, logs=None):
        lr = sgdr_lr(self.step, self.base_lr, self.min_lr, self.first_cycle, self.mult)
        self.model.optimizer.learning_rate.assign(lr)
        self.lrs.append(lr)
        self.step += 1


class LRFinder(keras.callbacks.Callback):
    """The LR range test. Keras 3 logs the running mean of the epoch's batch losses, so each
    batch's own loss is recovered from two consecutive means: exact for batches of one
    size (`gapnet.training.fit.range_test` drops the remainder), else the last, smaller batch
    of an epoch is slightly off."""

    def __init__(
        self, min_lr: float = 1e-6, max_lr: float = 1.0, steps: int = 100, diverge: float = 4.0
    ):
        super().__init__()
        self.min_lr, self.max_lr, self.steps, self.diverge = min_lr, max_lr, steps, diverge
        self.lrs, self.losses = [], []
        self._mean = 0.0

    def _lr(self, i):
        return self.min_lr * (self.max_lr / self.min_lr) ** (i / max(self.steps - 1, 1))

    def on_train_begin(self, logs=None):
        self._weights = self.model.get_weights()
        self.model.optimizer.learning_rate.assign(self._lr(0))

    def on_train_batch_end(self, batch, logs=None):
        if len(self.losses) >= self.steps:  # the test is over; the epoch is finishing
            return
        mean = float(logs["loss"])
        loss = mean if batch == 0 else (batch + 1) * mean - batch * self._mean
        self._mean = mean
        i = len(self.losses)
        self.lrs.append(self._lr(i))
        self.losses.append(loss)
        best = min(self.losses)
        if i + 1 >= self.steps or not math.isfinite(loss) or (loss > self.diverge * best and i > 5):
            self.model.stop_training = True
            self.steps = len(self.losses)
        else:
            self.model.optimizer.learning_rate.assign(self._lr(i + 1))

    def on_train_end(self, logs=None):
        self.model.set_weights(self._weights)  # the range test must not change the model

    def suggestion(self, window: int = 5) -> float:
        """The LR of the steepest descent of the loss before its minimum (the usual reading
        of the range-test plot), on a moving average of `window` batches without padding
        (padding would fake a drop at the ends of the sweep)."""
        loss = np.asarray(self.losses, np.float64)
        lrs = np.log10(np.asarray(self.lrs, np.float64))
        finite = np.isfinite(loss)
        loss, lrs = loss[finite], lrs[finite]
        if len(loss) < 3:
            return float(10 ** lrs[0]) if len(lrs) else self.min_lr
        w = min(window, len(loss) - 2)
        smooth = np.convolve(loss, np.ones(w) / w, mode="valid")
        centre = np.convolve(lrs, np.ones(w) / w, mode="valid")
        stop = int(np.argmin(smooth)) + 1  # the descent ends at the smoothed minimum
        if stop < 2:
            return float(10 ** centre[0])
        grad = np.diff(smooth[:stop]) / np.diff(centre[:stop])
        i = int(np.argmin(grad))
        return float(10 ** ((centre[i] + centre[i + 1]) / 2))


@keras.saving.register_keras_serializable(package="gapnet")
class StepProgress(keras.callbacks.Callback):
    """Progress lines within an epoch for log files, where Keras'
    verbose=2 writes one line per epoch and verbose=1 a bar redrawn at every step: a line
    at every `every` of the steps with the loss, the rate and the ETA (`gapnet.progress`),
    written only where at least `min_gap` seconds have passed since the epoch began or the
    last line. So a short epoch (the default job's: 38 steps in seconds) writes none, only
    Keras' epoch line, and a long one about 1/`every` (a 17-minute epoch at 31,072 samples:
    20 lines, about 2 KB). `fit_verbosity` adds it when stdout is not a terminal; `clock`
    (seconds, default `time.monotonic`) is for tests."""

    def __init__(
        self, every: float = 0.05, steps: int | None = None, stream=None, min_gap=30.0, clock=None
    ):
        super().__init__()
        self.every, self.steps, self.stream = every, steps, stream
        self.min_gap, self.clock = min_gap, clock

    def get_config(self):
        return {"every": self.every, "steps": self.steps, "min_gap": self.min_gap}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _begin(self, desc: str):
        import sys
        import time

        from gapnet.progress import LineProgress

        total = self.steps or self.params.get("steps") or 0
        self._bar = None
        if total:
            self._bar = LineProgress(
                total,
                desc,
                "step",
                self.stream or sys.stdout,
                self.every,
                self.min_gap,
                self.clock or time.monotonic,
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._begin(f"epoch {epoch + 1}/{self.params.get('epochs', '?')}")

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            loss = (logs or {}).get("loss")
            if loss is not None:
                self._bar.desc = self._bar.desc.split(" (loss")[0] + f" (loss {float(loss):.4f})"
            self._bar.update()
