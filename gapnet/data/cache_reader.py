"""Reading the uint8 cache that `gapnet.data.cache` builds: `CacheReader` reads sample i as
(size, size, C) with one `preadv` per row straight into a 64-byte aligned batch (no memory
map, so a reader's resident memory does not grow with a cache larger than memory), one
descriptor per process, closed by a finalizer; `read_ids` lists the cache's Ids.
"""

from __future__ import annotations

import os
import threading
import weakref

import numpy as np

from gapnet.data.labels import DataError
from gapnet.data.source import expand_ext
from gapnet.io import read_json

_OPEN_LOCK = threading.Lock()


def _close(fd: int, pid: int, getpid=os.getpid, close=os.close) -> None:
    """Closes a reader's descriptor in the process that opened it. The functions are bound
    here, not looked up at call time: at interpreter exit module globals may be gone."""
    if getpid() == pid:
        try:
            close(fd)
        except OSError:
            pass


class CacheReader:
    """Reads sample i of `ids` from a uint8 cache as (size, size, 4); same contract as PngReader.

    Its descriptor is closed by a `weakref.finalize` (when the reader goes, or at
    interpreter exit, quietly), not by `__del__`.
    """

    def __init__(self, folder: str, ids):
        self._fd, self._pid, self._finalizer = None, None, None
        meta = read_json(os.path.join(folder, "meta.json"))
        row = {sample_id: n for n, sample_id in enumerate(read_ids(folder))}
        missing = [i for i in ids if i not in row]
        if missing:
            raise DataError(
                f"{folder}: cache lacks {len(missing)} sample(s), e.g. {missing[:3]}; "
                "rebuild it with data_prep/build_cache.py"
            )
        self.folder, self.ids, self.size = folder, list(ids), int(meta["size"])
        self.rows = np.array([row[i] for i in ids], np.int64)
        from gapnet.channels import ChannelSet

        self.channels = ChannelSet.from_json(meta.get("channels"))
        self.shape = (self.size, self.size, len(self.channels))
        self.path = os.path.join(folder, "images.u8")
        expected = int(meta["n"]) * int(np.prod(self.shape))
        if os.path.getsize(self.path) != expected:
            raise DataError(f"{self.path}: not {expected:,} bytes; rebuild the cache")
        # the files it was made from
        self.image_dir, self.ext = meta["source"], expand_ext(meta["ext"], list(row))
        self.kind = f"uint8 cache {folder}"

    def __len__(self) -> int:
        return len(self.ids)

    def _file(self) -> int:
        if self._pid != os.getpid():  # a descriptor per process (pread is thread-safe)
            with _OPEN_LOCK:  # tf.data's threads: one descriptor, not one each
                if self._pid != os.getpid():
                    fd, pid = os.open(self.path, os.O_RDONLY), os.getpid()
                    self._finalizer = weakref.finalize(self, _close, fd, pid)
                    self._fd, self._pid = fd, pid
        return self._fd

    def __getstate__(self):
        return {**self.__dict__, "_fd": None, "_pid": None, "_finalizer": None}

    def __call__(self, i: int) -> np.ndarray:
        return self.read_batch([i])[0]

    def read_batch(self, indices) -> np.ndarray:
        """Rows `indices` as one uint8 (len, size, size, 4) array, in order.

        Each row is read with one `pread` straight into the batch (no memory map, so the
        reader's resident memory does not grow with the pages of a cache larger than
        memory). The array is 64-byte aligned, so TensorFlow takes it over as the batch
        tensor without a second copy (`tf.numpy_function` copies unaligned arrays).
        """
        rows = self.rows[np.asarray(indices)]
        out = aligned_empty((len(rows),) + self.shape)
        fd, row_bytes = self._file(), out[0].nbytes if len(rows) else 0
        for j, row in enumerate(rows):
            if os.preadv(fd, [out[j]], int(row) * row_bytes) != row_bytes:
                raise DataError(f"{self.path}: short read at row {row}; rebuild the cache")
        return out


def aligned_empty(shape, align: int = 64) -> np.ndarray:
    """An uninitialised uint8 array whose data starts on an `align`-byte boundary."""
    n = int(np.prod(shape))
    buf = np.empty(n + align, np.uint8)
    start = (-buf.ctypes.data) % align
    return buf[start : start + n].reshape(shape)


def read_ids(folder: str) -> list[str]:
    with open(os.path.join(folder, "ids.txt"), encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]
