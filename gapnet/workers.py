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
