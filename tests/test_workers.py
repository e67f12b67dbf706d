"""A worker process ends when its job is killed outright (gapnet.workers): a SIGKILLed
parent must not leave its spawned workers waiting on their queue for ever."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

PARENT = textwrap.dedent(
    """
    import os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from gapnet.workers import exit_with_parent

    if __name__ == "__main__":
        watch = sys.argv[1] == "watch"
        kw = {"initializer": exit_with_parent, "initargs": (os.getpid(),)} if watch else {}
        pool = ProcessPoolExecutor(2, mp_context=get_context("spawn"), **kw)
        pids = [pool.submit(os.getpid).result() for _ in range(8)]
        print(" ".join(map(str, sorted(set(pids)))), flush=True)
        time.sleep(600)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is not alive
        return f.read().split(")")[-1].split()[0] != "Z"


def _workers_after_killing_the_parent(tmp_path, mode: str, wait: float) -> list[int]:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    parent = subprocess.Popen(
        [sys.executable, str(script), mode], stdout=subprocess.PIPE, text=True, env=env
    )
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert pids
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    return left


def test_workers_end_within_seconds_of_a_sigkilled_parent(tmp_path):
    assert _workers_after_killing_the_parent(tmp_path, "watch", 5.0) == []


@pytest.mark.slow
def test_without_the_watch_they_would_be_left_behind(tmp_path):
    """The failure the watch prevents (so the test above can fail)."""
    assert _workers_after_killing_the_parent(tmp_path, "plain", 2.0) != []
