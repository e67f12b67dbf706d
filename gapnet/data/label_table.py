"""The multi-hot label table that `gapnet.data.labels` reads a label CSV into: sample Ids in
CSV order, their uint8 targets, the CSV line of each, the sample each augmented copy comes
from (`groups`: copies stay in their original's fold), and a subset by index or mask."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabelTable:
    """Sample Ids with their multi-hot labels, in CSV order.

    Attributes:
        ids: sample Ids.
        targets: uint8 array of shape (n, classes of the scheme); all zeros for an
            unlabelled (test) CSV.
        rows: the CSV line number of each sample, for error messages.
        path: the CSV it came from.
        sources: per sample, the Id of the sample it is an augmented copy of (an optional
            `Source` column, written by data_prep/oversample.py); empty if no such column.
    """

    ids: tuple[str, ...]
    targets: np.ndarray
    rows: tuple[int, ...]
    path: str
    sources: tuple[str, ...] = ()
    scheme: str = "hpa2018"

    @property
    def groups(self) -> tuple[str, ...]:
        """Per sample, the original it derives from (itself for an original): copies of a
        sample must stay in its fold."""
        if not self.sources:
            return self.ids
        return tuple(src or i for i, src in zip(self.ids, self.sources, strict=True))

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, keep) -> "LabelTable":
        """The table restricted to the indices (or boolean mask) `keep`, order kept."""
        idx = np.arange(len(self))[keep]
        return LabelTable(
            ids=tuple(self.ids[i] for i in idx),
            targets=self.targets[idx],
            rows=tuple(self.rows[i] for i in idx),
            path=self.path,
            sources=tuple(self.sources[i] for i in idx) if self.sources else (),
            scheme=self.scheme,
        )
