"""Worker processes that end with their job.

gapnet's pools are spawned (`multiprocessing`'s "spawn": TensorFlow may already be loaded
in the parent). When the parent is killed outright (SIGKILL, the kernel's out-of-memory
killer) a spawned worker is not told: it waits on its task queue for ever, holding its
memory, and one still in the middle of a field could write that field's files after a
rerun has started. Each pool's initializer calls `exit_with_parent`, so a worker ends
within about a second of its parent.
"""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(parent: int, every: float = 0.5) -> None:
    """Ends this process (exit code 1, no clean-up) once `parent` is no longer its parent
    (the parent died and the process was handed to init); checked every `every` s by a
    daemon thread."""

    def watch():
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="gapnet-exit-with-parent", daemon=True).start()


def available_cores() -> int:
    """The cores this process may run on (its affinity), else the CPU count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def one_thread_worker(parent: int) -> None:
    """A pool initializer: one OpenCV thread per worker process (the processes are the
    parallelism), ending with the job (`exit_with_parent`)."""
    import cv2

    cv2.setNumThreads(1)
    exit_with_parent(parent)


def in_order(fn, jobs, workers: int, in_flight: int = 2):
    """`fn(*job)` of each of `jobs`, yielded in `jobs`' order: in this process (workers
    <= 1), or from `workers` spawned processes with at most `in_flight` x workers jobs
    submitted and not yet handed on, so what waits in memory is bounded whatever the
    number of jobs. `fn` must be importable by name (a module-level function)."""
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    if workers <= 1:
        for job in jobs:
            yield fn(*job)
        return
    pool = ProcessPoolExecutor(
        workers,
        mp_context=get_context("spawn"),
        initializer=one_thread_worker,
        initargs=(os.getpid(),),
    )
    try:
        left, flight = iter(jobs), deque()
        for job in left:
            flight.append(pool.submit(fn, *job))
            if len(flight) >= in_flight * workers:
                break
        while flight:
            done = flight.popleft().result()
            job = next(left, None)
            if job is not None:
                flight.append(pool.submit(fn, *job))
            yield done
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
