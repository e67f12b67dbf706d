"""Simulated HPAv18 files: a Kaggle-layout folder's samples written as HPAv18 writes them.

HPAv18's external samples are one RGB JPEG per channel, 2048 px (some 1728), named
`<plate>_<well>_<field>_<n>_<color>.jpg`, the stain in its colour's plane: red, green,
blue, and yellow as red + green. `write_hpav18` writes each sample of ROOT that way,
upscaled to `size`, with a label file in HPAv18's `Id,Target` form, so that
`data_prep/import_external.py` can be measured on files of the real size and format
(`benchmarks/scale.py`). The pixels are those of ROOT's images (an atlas folder's are
synthetic), upsampled: nothing here is HPA data.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gapnet.classes import CHANNELS

PLANES = {"red": (0,), "green": (1,), "blue": (2,), "yellow": (0, 1)}  # RGB planes per stain


def hpav18_id(n: int) -> str:
    """An HPAv18-shaped Id for the n-th simulated sample: `<plate>_<700+well>_<well name>_<field>`
    (four fields per well, 96 wells per plate)."""
    plate, rest = divmod(n, 96 * 4)
    well, field = divmod(rest, 4)
    return f"{10000 + plate}_{700 + well}_{'ABCDEFGH'[well % 8]}{well % 12 + 1}_{field + 1}"


def rgb_plane(plane: np.ndarray, color: str) -> np.ndarray:
    """(H, W, 3) uint8 with `plane` in `color`'s RGB planes and zeros elsewhere."""
    rgb = np.zeros(plane.shape + (3,), np.uint8)
    for k in PLANES[color]:
        rgb[..., k] = plane
    return rgb


def write_hpav18(
    root: str,
    out: str,
    size: int = 2048,
    n: int | None = None,
    quality: int = 90,
    workers: int | None = None,
    progress: bool = True,
) -> list[str]:
    """Writes the first `n` samples of ROOT's train split (all if None) to `out` as HPAv18
    JPEGs of `size` px and `out/labels.csv`; returns the new Ids. Files already there are
    kept (a killed run continues)."""
    from PIL import Image

    from gapnet.data.images import channel_path, read_channel
    from gapnet.data.labels import format_target
    from gapnet.data.source import open_source
    from gapnet.io import atomic_write_text
    from gapnet.progress import track

    src = open_source(root)
    ids = list(src.labels.ids[:n] if n else src.labels.ids)
    new = [hpav18_id(k) for k in range(len(ids))]
    os.makedirs(out, exist_ok=True)

    def one(k: int) -> None:
        for color in CHANNELS:
            path = channel_path(out, new[k], color, "jpg")
            if os.path.exists(path):
                continue
            plane = read_channel(channel_path(src.image_dir, ids[k], color, src.ext), color, size)
            tmp = path + ".tmp.jpg"
            Image.fromarray(rgb_plane(plane, color)).save(tmp, quality=quality)
            os.replace(tmp, path)

    with (
        ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool,
        track(len(ids), f"HPAv18 files ({size}px)", enabled=progress) as bar,
    ):
        for _ in pool.map(one, range(len(ids))):
            bar.update()
    rows = [f"{i},{format_target(t)}" for i, t in zip(new, src.labels.targets, strict=False)]
    atomic_write_text(os.path.join(out, "labels.csv"), "Id,Target\n" + "\n".join(rows) + "\n")
    return new
