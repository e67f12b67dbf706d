"""Atomic file writes: every artifact is written to a temporary file, then renamed.

A run killed mid-write therefore leaves either the old file or the new one, never half
of one. The file gets the mode an ordinary `open` would give it (0o666 less the umask), not
the temporary file's private 0o600, so collaborators can read run folders and datasets.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """A file to write `path` through: a temporary file in the same folder, flushed,
    synced and renamed onto `path` when the block ends without an exception (removed
    otherwise), with the mode an ordinary `open` gives: an existing file's permission
    bits, else 0o666 less the umask. For writing a large file piece by piece (a
    submission, a cells table) atomically."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="-" + os.path.basename(path))
    try:
        try:  # mkstemp's file is 0o600
            perms = os.stat(path).st_mode & 0o777  # replacing a file keeps its mode
        except FileNotFoundError:
            perms = 0o666 & ~current_umask()
        os.fchmod(fd, perms)
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` through a temporary file in the same folder and a rename."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux:
    /proc/self/status; elsewhere set and restored at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_npy(path: str | os.PathLike, array) -> None:
    """`numpy.save` to `path` through a temporary file and a rename."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.asarray(array))
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class DiskSpaceError(OSError):
    """Too little free space for what a step is about to write."""


def check_free_space(folder: str | os.PathLike, needed: int, what: str) -> None:
    """Raises DiskSpaceError, naming `folder`, the bytes `needed` for `what` and the bytes
    free, when the file system holding `folder` (or its nearest existing parent) has less
    free than `needed`."""
    import shutil

    path = os.path.abspath(os.fspath(folder))
    while not os.path.exists(path):
        path = os.path.dirname(path)
    free = shutil.disk_usage(path).free
    if needed > free:
        raise DiskSpaceError(
            f"{os.fspath(folder)}: {what} needs {needed / 1e9:.2f} GB ({needed:,} bytes), "
            f"{free / 1e9:.2f} GB free; free space or choose another folder"
        )
