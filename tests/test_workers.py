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


@pytest.mark.slow  # two spawned workers (~5 s)
def test_a_2021_submission_in_worker_processes_is_the_one_process_csv(
    tiny_run, tiny_data, tmp_path
):
    """Five fields read and segmented (their masks read) in two spawned workers while the
    parent scores them: the CSV and every part are byte for byte the one-process ones."""
    import numpy as np

    from gapnet.segment import write_mask
    from gapnet.single_cell.predict import predict_submission

    images = os.path.join(tiny_data, "train")
    ids = sorted(f[: -len("_green.png")] for f in os.listdir(images) if f.endswith("_green.png"))
    ids = ids[:5]
    masks = tmp_path / "masks"
    masks.mkdir()
    for n, sid in enumerate(ids):
        m = np.zeros((48, 48), np.int32)
        m[1:20, 1:20], m[25:47, 5 + n : 30], m[5:15, 30:46] = 1, 2, 3
        write_mask(str(masks / f"{sid}_cells.png"), m)
    got = {}
    for w in (1, 2):
        out = str(tmp_path / f"sub{w}.csv")
        predict_submission(tiny_run[0], images, ids, out, str(masks), log=lambda *a: 0, workers=w)
        parts = sorted(os.listdir(out + ".parts"))
        got[w] = [open(out, "rb").read()] + [
            open(os.path.join(out + ".parts", p), "rb").read() for p in parts
        ]
    assert got[1] == got[2] and len(got[1]) == 1 + 5 + 1  # CSV, five parts, the manifest
