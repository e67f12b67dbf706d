"""Progress of a long stage: a tqdm bar on a terminal, a few plain lines in a log file.

A bar redrawn at every item turns a log file (`run_kfold.py > log`, nohup, CI) into
megabytes of carriage returns; `track` therefore draws the bar only when the stream is a
terminal and otherwise writes one line per `every` fraction of the work (default 5 %:
at most 20 lines per stage, whatever its size), each with the count, the rate and the ETA:

    segmenting: 35% (10,876/31,072 sample) 41.2 sample/s, elapsed 4:24, ETA 8:10
"""

from __future__ import annotations

import math
import sys
import time

EVERY = 0.05  # fraction of the work between two lines in a log file


def clock(seconds: float) -> str:
    """`h:mm:ss` or `m:ss`."""
    s = int(round(max(seconds, 0)))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def progress_line(desc: str, done: int, total: int, seconds: float, unit: str) -> str:
    """One log line: percentage, count, rate and the ETA at the rate so far."""
    rate = done / seconds if seconds > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else float("nan")
    pct = 100.0 * done / total if total else 100.0
    left = clock(eta) if eta == eta else "?"
    return (
        f"{desc}: {pct:.0f}% ({done:,}/{total:,} {unit}) {rate:.1f} {unit}/s, "
        f"elapsed {clock(seconds)}, ETA {left}"
    )


class LineProgress:
    """tqdm's `update`/`close` interface, writing a line every `every` of `total`; with
    `min_gap`, only at those boundaries where at least `min_gap` seconds (of `clock`) have
    passed since the start or the last line (a short stage then writes none)."""

    def __init__(
        self,
        total: int,
        desc: str,
        unit: str,
        stream,
        every: float = EVERY,
        min_gap: float = 0.0,
        clock=time.monotonic,
    ):
        self.total, self.desc, self.unit, self.stream = int(total), desc, unit, stream
        # rounded up, so a stage writes at most 1/every lines (38 steps at 5 %: a line every
        # 2 steps, 19 lines; rounding down wrote one per step); 1e-9 absorbs 0.05 * 100 > 5
        self.step = max(1, math.ceil(total * every - 1e-9))
        self.min_gap, self.clock = min_gap, clock
        self.n, self.next_at, self.start = 0, self.step, clock()
        self.last = self.start

    def update(self, k: int = 1) -> None:
        self.n += k
        if self.n >= self.next_at or self.n >= self.total:
            if self.clock() - self.last >= self.min_gap:
                self._write()
            while self.next_at <= self.n:
                self.next_at += self.step

    def _write(self) -> None:
        self.last = self.clock()
        elapsed = self.last - self.start
        print(
            progress_line(self.desc, self.n, self.total, elapsed, self.unit),
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self.n < self.total and self.n > 0 and self.n % self.step:
            self._write()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Silent:
    def update(self, k: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def track(total: int, desc: str, unit: str = "sample", enabled: bool = True, stream=None):
    """A progress object with `update(k)` and `close()` (a context manager): a tqdm bar when
    `stream` (default stderr) is a terminal, else `LineProgress`; nothing if not `enabled`
    or there is nothing to do."""
    stream = stream or sys.stderr
    if not enabled or total <= 0:
        return _Silent()
    if getattr(stream, "isatty", lambda: False)():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=stream)
    return LineProgress(total, desc, unit, stream)
