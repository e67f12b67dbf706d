"""A uint8 cache of decoded, resized images that the pipeline reads instead of the PNGs.

Decoding four PNGs tops out at about 280 samples/s on 2 cores; a GPU that trains GapNet at
thousands of images/s would starve. `build` decodes every sample of a split once into one
flat uint8 array file (`images.u8`, shape (n, size, size, 4), in the CSV's order), written
with `pwrite` and read with one `preadv` per sample (no memory map: a reader's resident
memory does not grow with a cache larger than memory). One flat file beat TFRecord shards here: no
parsing, random access for shuffling, and the page cache shares it between fold processes.

Layout: `<root>/.gapnet-cache/<split>-<size>/{images.u8, ids.txt, rows.npy, meta.json}` (a
channel set other than the four: `<split>-<size>-<its file names>/`, C channels a row). `meta.json`
holds a fingerprint of the source files (size and modification time of each), so an
edited dataset is noticed. Builds are incremental: `rows.npy` records which files each
row was decoded from, so a killed build continues where it stopped and a rebuild after
an edit decodes only the changed samples. Reading it back (`CacheReader`, one `preadv` a
row) is `gapnet.data.cache_reader`'s.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gapnet.classes import CHANNELS
from gapnet.data.cache_reader import CacheReader, read_ids
from gapnet.data.images import channel_path, read_sample
from gapnet.data.labels import DataError
from gapnet.io import atomic_write_json, atomic_write_text, check_free_space, read_json
from gapnet.progress import track

CACHE_FOLDER = ".gapnet-cache"
CHUNK = 256  # rows decoded between two progress saves


def cache_dir(root: str, split: str, size: int, channels=None) -> str:
    """The cache of a split at `size`; a channel set other than the four gets its own
    (`<split>-<size>-<names>`: the files it reads)."""
    tag = "" if channels is None or channels.default else "-" + "-".join(channels.names)
    return os.path.join(os.path.abspath(root), CACHE_FOLDER, f"{split}-{size}{tag}")


def sample_prints(image_dir: str, ext, ids, names=CHANNELS) -> np.ndarray:
    """One 64-bit print per sample of its channel files' sizes and modification times."""
    out = np.empty(len(ids), np.uint64)
    for n, sample_id in enumerate(ids):
        h = hashlib.blake2b(sample_id.encode(), digest_size=8)
        for color in names:
            try:
                st = os.stat(channel_path(image_dir, sample_id, color, ext))
                h.update(f":{st.st_size}:{st.st_mtime_ns}".encode())
            except OSError:
                h.update(b":missing")
        out[n] = int.from_bytes(h.digest(), "little") | 1  # never 0 (0 = row not written)
    return out


def fingerprint(image_dir: str, ext, ids, names=CHANNELS) -> str:
    """Changes when any of the samples' files is replaced, edited, added or removed."""
    return hashlib.sha256(sample_prints(image_dir, ext, ids, names).tobytes()).hexdigest()


def build(
    root: str,
    size: int,
    split: str = "train",
    workers: int | None = None,
    progress: bool = True,
    log=print,
    channels=None,
) -> str:
    """Decodes the samples of `split` into the cache (only those not cached yet or whose
    files changed) and returns the cache folder.

    Raises:
        gapnet.data.images.ImageError: a file cannot be decoded (the rows already written
            are kept: fix or remove the file, then build again to continue).
    """

    from gapnet.data.source import compact_ext, open_source

    src = open_source(root, split, channels=channels)
    ids = list(src.labels.ids)
    if not ids:
        raise DataError(f"{src.csv_path}: no samples to cache")
    out = cache_dir(root, split, size, src.channels)
    os.makedirs(out, exist_ok=True)
    prints = sample_prints(src.image_dir, src.ext, ids, src.channels.names)
    fp = hashlib.sha256(prints.tobytes()).hexdigest()
    meta_path = os.path.join(out, "meta.json")
    if os.path.isfile(meta_path):
        if read_json(meta_path).get("fingerprint") == fp:
            log(f"cache {out} is up to date ({len(ids)} samples at {size}px)")
            return out
        os.remove(meta_path)  # stale until the changed rows are redone
    shape = (len(ids), size, size, len(src.channels))
    data_path, rows_path = os.path.join(out, "images.u8"), os.path.join(out, "rows.npy")
    # rows.npy: the print of the files each row was decoded from (0: not written yet).
    same_ids = (
        os.path.isfile(rows_path)
        and read_ids(out) == ids
        and os.path.getsize(data_path) == int(np.prod(shape))
    )
    if not same_ids:
        old = os.stat(data_path).st_blocks * 512 if os.path.isfile(data_path) else 0  # freed
        check_free_space(
            out, int(np.prod(shape)) - old, f"a uint8 cache of {len(ids)} samples at {size} px"
        )
        atomic_write_text(os.path.join(out, "ids.txt"), "\n".join(ids) + "\n")
        np.save(rows_path, np.zeros(len(ids), np.uint64))
        with open(data_path, "wb") as f:
            f.truncate(int(np.prod(shape)))
    else:  # a killed build: its unwritten rows are holes in a sparse file, not yet on disk
        left = int(np.prod(shape)) - os.stat(data_path).st_blocks * 512
        check_free_space(out, max(0, left), f"the rest of a uint8 cache of {len(ids)} samples")
    written = np.load(rows_path)
    todo = np.flatnonzero(written != prints)
    if 0 < len(todo) < len(ids):
        log(
            f"cache {out}: {len(ids) - len(todo)} of {len(ids)} samples already cached, "
            f"decoding {len(todo)}"
        )
    row_bytes = int(np.prod(shape[1:]))
    fd = os.open(data_path, os.O_WRONLY)  # pwrite, not a memory map: RSS stays flat in n
    try:
        with (
            ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool,
            track(len(todo), f"caching {split} at {size}px", enabled=progress) as bar,
        ):
            for start in range(0, len(todo), CHUNK):
                rows = todo[start : start + CHUNK]
                for i, img in zip(
                    rows,
                    pool.map(
                        lambda i: read_sample(src.image_dir, ids[i], size, src.ext, src.channels),
                        rows,
                    ),
                    strict=True,
                ):
                    _write_row(
                        fd,
                        np.ascontiguousarray(img, np.uint8).tobytes(),
                        int(i) * row_bytes,
                        data_path,
                    )
                os.fsync(fd)  # rows on disk before they are marked written
                written[rows] = prints[rows]
                np.save(rows_path + ".tmp.npy", written)
                os.replace(rows_path + ".tmp.npy", rows_path)
                bar.update(len(rows))
    finally:
        os.close(fd)
    atomic_write_json(
        meta_path,
        {
            "split": split,
            "size": size,
            "n": len(ids),
            "ext": compact_ext(src.ext),
            "source": src.image_dir,
            "fingerprint": fp,
            "channels": src.channels.to_json(),
        },
    )
    log(f"cache {out}: {len(ids)} samples at {size}px, {os.path.getsize(data_path) / 1e9:.2f} GB")
    return out


def _write_row(fd: int, data: bytes, offset: int, path: str) -> None:
    """All of `data` at `offset` (pwrite may write less), or DiskSpaceError naming `path`."""
    import errno

    from gapnet.io import DiskSpaceError

    view = memoryview(data)
    try:
        while view:
            n = os.pwrite(fd, view, offset)
            view, offset = view[n:], offset + n
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskSpaceError(
                f"{path}: the disk filled while caching; free space and run the build "
                "again (finished rows are kept)"
            ) from e
        raise


def open_reader(src, ids, size: int, mode: str = "auto", log=print):
    """The reader for `ids` of a source: the uint8 cache when one is usable, else the files.

    mode: "auto" uses a fresh cache of this size if there is one; "off" never does;
    "require" fails if there is none (or it is stale).
    """
    from gapnet.data.pipeline import PngReader

    if mode != "off":
        folder = cache_dir(src.root, src.split, size, src.channels)
        meta_path = os.path.join(folder, "meta.json")
        problem = None
        if not os.path.isfile(meta_path):
            problem = f"no cache at {folder}"
        elif read_json(meta_path)["fingerprint"] != fingerprint(
            src.image_dir, src.ext, read_ids(folder), src.channels.names
        ):
            problem = f"the cache {folder} is stale (the image files changed since it was built)"
        if problem is None:
            reader = CacheReader(folder, ids)
            log(f"reading images from the {reader.kind}")
            return reader
        if mode == "require":
            raise DataError(
                f"{problem}; build it with: python data_prep/build_cache.py "
                f"{src.root} --size {size}"
            )
        if "stale" in problem:
            log(f"warning: {problem}; reading the image files instead (rebuild the cache)")
    return PngReader(src.image_dir, src.ext, ids, size, src.channels)
