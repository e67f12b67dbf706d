"""What the benchmarks share: timing a stream in long windows, and running a stage as a
child process with its wall time, peak RSS, disk written and log size.

Timing. A row timed once for well under a second swings by 2x from run to run on a shared
machine. `measure` times a row as `repeats` consecutive windows of at least `min_seconds`
each, on one uninterrupted stream (no pause between windows, so no buffer refills in
between), after a longer warm-up window, and reports the median rate and the spread
(lowest and highest window).

Child processes (`run`, used by benchmarks/scale.py): the page cache dropped first where
the OS allows it, the peak RSS of the largest process from `os.wait4`, the disk written
as blocks of the outputs (hard links counted once), and an optional SIGKILL-and-restart.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable


# === Timing a stream ===
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


# === Running a stage as a child process ===
def drop_caches() -> bool:
    """Drops the page cache (root only); True if it could."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def disk_bytes(paths) -> int:
    """Allocated bytes under `paths` (hard links counted once)."""
    seen, total = set(), 0
    for top in paths:
        if not os.path.exists(top):
            continue
        walk = [(top, [], [""])] if os.path.isfile(top) else os.walk(top)
        for folder, _, files in walk:
            for name in files:
                try:
                    st = os.lstat(os.path.join(folder, name))
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total


def run(cmd, log_path, outputs=(), kill_after=None, cold=True, restart=True) -> dict:
    """Runs `cmd` (page cache dropped first if `cold`); wall seconds, peak RSS (MB), disk written
    (MB, blocks of `outputs`), log bytes and exit status. With `kill_after` (seconds, or a
    function polled every 0.1 s that says when), SIGKILLs it
    after that many seconds (with its process group) and, if `restart`, starts it again
    (both counted)."""
    before = disk_bytes(outputs)
    cold = drop_caches() if cold else False
    tries, seconds, rss, status, killed = 0, 0.0, 0.0, None, False
    with open(log_path, "wb") as log:
        while True:
            tries += 1
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
            )
            when = kill_after if callable(kill_after) and tries == 1 else None
            deadline = t0 + kill_after if kill_after and not when and tries == 1 else None
            while True:  # os.wait4, not Popen.wait: the rusage holds the peak RSS
                pid, raw, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                due = when() if when else deadline and time.perf_counter() > deadline
                if due and not killed:
                    os.killpg(proc.pid, signal.SIGKILL)  # its worker processes too
                    killed = True
                time.sleep(0.1)
            proc.returncode = os.waitstatus_to_exitcode(raw)
            seconds += time.perf_counter() - t0
            rss = max(rss, usage.ru_maxrss / 1024)
            status = proc.returncode
            if not (killed and tries == 1 and restart):
                break
            log.write(b"\n=== killed (SIGKILL), started again ===\n")
            log.flush()
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(rss, 1),
        "disk_mb": round((disk_bytes(outputs) - before) / 1e6, 1),
        "log_bytes": os.path.getsize(log_path),
        "status": status,
        "cold": cold,
        "killed_and_resumed": killed,
    }


def last_json(log_path) -> dict:
    if not os.path.isfile(log_path):  # a stage --stages skipped
        return {}
    with open(log_path, encoding="utf-8", errors="replace") as f:
        lines = [line for line in f if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


# === Growth in n ===
def slopes(stages) -> dict:
    """Per stage, the least-squares slope of log(seconds) on log(n) over its rows (stages
    with at least two distinct n)."""
    out = {}
    for name in dict.fromkeys(s["stage"] for s in stages):
        pts = [(s["n"], s["seconds"]) for s in stages if s["stage"] == name and s["seconds"] > 0]
        if len({n for n, _ in pts}) >= 2:
            x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
            out[name] = round(float(np.polyfit(x, y, 1)[0]), 3)
    return out


if __name__ == "__main__":
    sys.exit(
        "benchmarks/common.py: helpers of benchmarks/ scripts, "
        "not a script; run python benchmarks/<name>.py --help (docs/benchmarks.md)"
    )
