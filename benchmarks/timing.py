"""Timing shared by the benchmarks: the median of several long windows of one stream.

A row timed once for well under a second swings by 2x from run to run on a shared
machine. Each row here is timed as `repeats` consecutive windows of at least
`min_seconds` each, on one uninterrupted stream (no pause between windows, so no buffer
refills in between), after a longer warm-up window; the row reports the median rate and the
spread (lowest and highest window).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """Items per second: the median window and the lowest and highest of `repeats`."""

    median: float
    low: float
    high: float
    repeats: int
    seconds: float  # timed in all

    @property
    def spread(self) -> float:
        """(highest - lowest) / median."""
        return (self.high - self.low) / self.median if self.median else float("nan")

    def cell(self) -> str:
        return f"{self.median:,.1f} ({self.low:,.1f}-{self.high:,.1f})"


def measure(step, min_seconds: float = 3.0, repeats: int = 5, warmup: float | None = None) -> Rate:
    """Times `step()` (one unit of work returning how many items it did) in `repeats`
    windows of at least `min_seconds` after a warm-up window (default: 3 x min_seconds,
    time for tf.data's autotuning to settle)."""
    windows = []
    for w in range(repeats + 1):
        limit = (3 * min_seconds if warmup is None else warmup) if w == 0 else min_seconds
        done, t0 = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < limit:
            done += step()
        if w:
            windows.append(done / elapsed)
    return Rate(
        statistics.median(windows), min(windows), max(windows), repeats, min_seconds * repeats
    )


def batches(dataset):
    """A `step` over an endless tf.data dataset: one batch; returns its size."""
    it = iter(dataset.repeat())

    def step():
        x = next(it)
        return int((x[0] if isinstance(x, tuple) else x).shape[0])

    return step


def trainer(model, dataset):
    """A `step` of training: one `train_on_batch` on the next batch of a persistent
    stream over `dataset` (no pipeline restart between windows)."""
    it = iter(dataset)

    def step():
        x, y = next(it)
        model.train_on_batch(x, y)
        return int(x.shape[0])

    return step
