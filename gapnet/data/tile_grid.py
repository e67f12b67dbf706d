"""Cutting an image into overlapping tiles whose cores partition it (what
`gapnet.data.ome_zarr.ZarrImage.tiles` walks a level with): `spans` cuts one side of `n` px
into `tile`-px windows whose neighbours share `overlap` px, the last one flush with the
edge; each window's core runs to the middle of its overlaps, so every pixel lies in one
core. `Tile` is one window with its core.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tile:
    """A window [y0:y1, x0:x1] and its core (cy0, cy1, cx0, cx1), in level pixels."""

    y0: int
    y1: int
    x0: int
    x1: int
    core: tuple[int, int, int, int]


def spans(n: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(start, end, core start, core end) of the tiles along one side of `n` px."""
    if not 0 <= overlap < tile:
        raise ValueError(f"tile overlap {overlap} must be at least 0 and less than the tile {tile}")
    if n <= tile:
        return [(0, n, 0, n)]
    starts = list(range(0, n - tile, tile - overlap)) + [n - tile]
    cuts = [0] + [(b + a + tile) // 2 for a, b in zip(starts[:-1], starts[1:], strict=True)] + [n]
    return [(s, s + tile, cuts[i], cuts[i + 1]) for i, s in enumerate(starts)]
