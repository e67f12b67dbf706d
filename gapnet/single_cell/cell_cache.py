"""The cells of a set of fields, on disk: the folder's layout, each field's content print,
and `CellCache`, which reads a built folder (crops in batches, one field's mask at a
time), so that the memory the job holds does not grow with the fields (a 2048-px field's
int32 mask alone is 17 MB; 21,806 of them would not fit). The folder is built (or
resumed) by `gapnet.single_cell.cell_build.cell_set`.

Layout of the folder (RUN/cells/):

    crops.u8      every cell's (s, s, 4) uint8 crop (`crops.cell_crops`), one row per cell,
                  written with pwrite and read with preadv (no memory map)
    masks/<Id>.png  the field's cells renumbered 1..k in label order (the crops' order)
    index.jsonl   one line per finished field: its content print, first row and count
                  in crops.u8, edge flags, the mask file's own labels, where the mask came
                  from, the nucleus diameter used

Resuming: crops and masks are flushed to disk before a field's line is appended, so a
field is either finished (its line present) or redone; a killed build keeps every field
whose line was flushed (every 16 fields; the others are redone). Staleness: a field's
print hashes the bytes of its four image files and of its mask file (when masks are
given) with the settings (crop size, nucleus diameter), so an image or mask changed in
place is redone on the next build (the file's size, times and inode, kept beside the
print, only spare rehashing files that were not touched). A redone field's new rows are
appended; its old rows stay in crops.u8 unused until the folder is rebuilt."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from gapnet.classes import CHANNELS

CROPS, INDEX, MASKS = "crops.u8", "index.jsonl", "masks"


def file_key(path: str) -> list:
    """What changes whenever a file's bytes are written: size, mtime, ctime, inode."""
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def content_print(paths, settings: str) -> str:
    """A hash of the bytes of `paths` (in order) and the settings string."""
    h = hashlib.blake2b(settings.encode(), digest_size=16)
    for p in paths:
        h.update(os.path.basename(p).encode() + b"\0")
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def field_files(image_dir: str, masks: str | None, sample_id: str, ext: str) -> list[str]:
    """The four channel files of a field, and its mask file when a masks folder is given.

    Raises:
        DataError: a masks folder without this field's mask, naming it."""
    from gapnet.data.images import channel_path
    from gapnet.single_cell.cell_set import find_mask

    files = [channel_path(image_dir, sample_id, c, ext) for c in CHANNELS]
    return files + ([find_mask(masks, sample_id)] if masks else [])


def read_index(folder: str) -> tuple[dict, int]:
    """({Id: its last record}, the first crops row no record uses)."""
    records, end = {}, 0
    path = os.path.join(folder, INDEX)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill: its field is redone
                    continue
                records[r["id"]] = r
                end = max(end, r["row"] + r["n"])
    return records, end


class CellCache:
    """Every cell of the fields `ids`, in field order, then cell-label order ("cell i").

    Held in memory per cell: the edge flag and the mask file's own label (5 bytes); per
    field its rows (16 bytes). Crops are read from crops.u8 and masks from masks/ on
    demand (`read`, `mask`).
    """

    def __init__(self, folder: str, ids, records: dict, crop: int):
        self.folder, self.ids, self.crop = folder, list(ids), crop
        rs = [records[i] for i in self.ids]
        self.counts = np.array([r["n"] for r in rs], np.int64)
        self.starts = np.array([r["row"] for r in rs], np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        self.edge = np.frombuffer("".join(r["edge"] for r in rs).encode(), np.uint8) == 49
        self.labels = np.concatenate([np.asarray(r["labels"], np.int32) for r in rs] or [[]])
        self.labels = self.labels.astype(np.int32)
        self.sources = sorted({r["source"].split(",")[0] for r in rs})
        self.diameters = np.array([r.get("diameter") or np.nan for r in rs], np.float32)
        self.field_prints = [r["print"] for r in rs]  # each field's image and mask
        self.print = hashlib.sha256("".join(self.field_prints).encode()).hexdigest()
        self.shape = (crop, crop, len(CHANNELS))
        self.path = os.path.join(folder, CROPS)
        self._fd, self._pid = None, None

    @property
    def n_cells(self) -> int:
        return int(self.offsets[-1])

    def rows(self, n: int) -> slice:
        """The cells of field n (a slice of cell numbers)."""
        return slice(int(self.offsets[n]), int(self.offsets[n + 1]))

    def cell_fields(self, cells=None) -> np.ndarray:
        """Each cell's field (an index into `ids`), of `cells` or of every cell."""
        cells = np.arange(self.n_cells) if cells is None else np.asarray(cells, np.int64)
        return np.searchsorted(self.offsets, cells, "right") - 1

    def mask(self, n: int) -> np.ndarray:
        """Field n's cells 1..k (int32), read from masks/."""
        from gapnet.segment import read_mask

        return read_mask(os.path.join(self.folder, MASKS, f"{self.ids[n]}.png"))

    def _file(self) -> int:
        if self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def __getstate__(self):
        return {**self.__dict__, "_fd": None, "_pid": None}

    def __del__(self):
        if getattr(self, "_fd", None) is not None and self._pid == os.getpid():
            os.close(self._fd)

    def read(self, cells) -> np.ndarray:
        """The crops of cell numbers `cells`, (len, s, s, 4) uint8, one preadv each."""
        from gapnet.data.cache_reader import aligned_empty
        from gapnet.data.labels import DataError

        cells = np.asarray(cells, np.int64)
        f = self.cell_fields(cells)
        rows = self.starts[f] + cells - self.offsets[f]
        out = aligned_empty((len(cells),) + self.shape)
        fd, nbytes = self._file(), int(np.prod(self.shape))
        for j, row in enumerate(rows):
            if os.preadv(fd, [out[j]], int(row) * nbytes) != nbytes:
                raise DataError(f"{self.path}: short read at row {row}; rebuild the cells")
        return out
