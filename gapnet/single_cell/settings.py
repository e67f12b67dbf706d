"""The single-cell job's settings: `SingleCellConfig` (written as RUN/single_cell.json)
and which kept stages a changed setting makes stale (`stages_to_redo`,
`check_run_config`)."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field

from gapnet.single_cell.cell_model import CellModelConfig


@dataclass(frozen=True)
class SingleCellConfig:
    data: str | None = None  # a dataset root (Kaggle/2021 layout); None: the synthetic atlas
    scheme: str = "hpa2021"
    synthetic_n: int = 240  # the atlas: images ...
    synthetic_size: int = 256  # ... their side in px ...
    synthetic_seed: int = 0  # ... the draw ...
    variability: float = 1.0  # ... and its single-cell variability (0..1)
    image_epochs: int = 12  # the image model: the default job's recipe (GapNet, 128 px)
    image_size: int = 128
    # µm per pixel of the fields as the image model sees them (at image_size), recorded as
    # the image run's Config.pixel_size (predict.py resamples a user's image to it); e.g.
    # 2021 fields at 0.08 µm/px, 2048 px, read at 128 px: 1.28. None: not recorded
    pixel_size: float | None = None
    masks: str | None = None  # a folder of `<Id>_cells.png` / `_predictedmask.png`; None: ours
    # gapnet's segmentation: None estimates the nucleus size from each field (the default:
    # F1 0.90 against 0.76 for a fixed 50 px on a held-out real field); a number is px at
    # 512, scaled to each field's size
    nucleus_diameter: float | None = None
    edge_weight: float = 1.0  # multiplies the scores of cells cut by the border (1: off)
    negative: str = "model"  # Negative's score: "model" or "none_of" (`scores`)
    maps: bool = True  # also score explain's map-based calls (method "maps")
    # processes that segment and crop the fields (None: the cores available); the cells
    # are the same bytes whatever the number, so a change is no change of settings
    workers: int | None = None
    cell: CellModelConfig = field(default_factory=CellModelConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SingleCellConfig":
        d = dict(d)
        cell = CellModelConfig(**d.pop("cell", {}))
        return cls(**d, cell=cell)


def _flat(d: dict) -> dict:
    """{"key": v, "cell.key": v} of a config dict with one nested level."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update({f"{k}.{j}": w for j, w in v.items()})
        else:
            out[k] = v
    return out


# Which stages each setting feeds (check_run_config): a changed setting redoes its stage
# and every later one; scoring-only settings change nothing kept.
IMAGE_KEYS = {"data", "scheme", "synthetic_n", "synthetic_size", "synthetic_seed"}
IMAGE_KEYS |= {"variability", "image_epochs", "image_size", "pixel_size"}
CELL_KEYS = {"masks", "nucleus_diameter", "cell.crop_size"}
SCORING_KEYS = {"edge_weight", "negative", "maps"}
RUNTIME_KEYS = {"workers"}  # how, not what: never compared
STAGES = ("image_run", "cells", "cell_model", "maps", "results.json", "cells.csv", "report")


def stages_to_redo(changed: set) -> list[str]:
    """The kept stages a change of the settings `changed` (flat keys) makes stale. Pure."""
    if changed & IMAGE_KEYS:
        return list(STAGES)
    if changed & CELL_KEYS:
        return list(STAGES[1:])
    if any(k.startswith("cell.") for k in changed):
        return list(STAGES[2:])
    return list(STAGES[4:]) if changed else []  # scoring only: the results are redone


def check_run_config(out: str, cfg: SingleCellConfig, force: bool = False) -> None:
    """Writes RUN/single_cell.json. A folder started with other settings is refused when
    a change makes a kept stage stale (the image run, cells, cell models, maps), unless
    `force`, which removes exactly those stages (`stages_to_redo`); scoring-only settings
    (edge weight, Negative rule, maps on or off) pass, their results being redone anyway;
    the worker count is not compared.

    Raises:
        RunError: the settings differ, naming each change."""
    import shutil

    from gapnet.cv.runfolder import RunError
    from gapnet.io import atomic_write_text, read_json

    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "single_cell.json")
    new = json.loads(json.dumps(cfg.to_dict()))
    if os.path.isfile(path):
        a, b = _flat(read_json(path)), _flat(new)
        keys = {k for k in a | b if a.get(k) != b.get(k)} - RUNTIME_KEYS
        changed = [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(keys)]
        redo = stages_to_redo(keys)
        if keys - SCORING_KEYS and not force:
            raise RunError(
                f"{out} was started with other settings ({'; '.join(changed)}); "
                f"{', '.join(s for s in redo if s in STAGES[:4])} were made with those: use a "
                "new --out, or --force to redo them"
            )
        for stage in redo:
            target = os.path.join(out, stage)
            if os.path.isdir(target):
                shutil.rmtree(target)
            elif os.path.isfile(target):
                os.remove(target)
    atomic_write_text(path, json.dumps(new, indent=1))
