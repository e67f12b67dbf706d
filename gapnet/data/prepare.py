"""A run's data, ready to train on: found (or the synthetic atlas generated), validated and
opened through the fastest reader available (the uint8 cache, else the image files)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gapnet.config import Config


@dataclass(frozen=True)
class Prepared:
    """The samples a run trains on, in label-CSV order.

    Attributes:
        root: the dataset folder.
        synthetic: True for synthetic data: the embedded atlas, or a `--data` folder
            with the generator's marker (`gapnet.data.synthetic.marker`).
        ids, targets: the good samples' Ids and (n, classes) 0/1 labels (28 in the 2018
            scheme, 19 in the 2021 one).
        groups: each sample's group (its own Id, or the original of an augmented copy).
        reader: reads sample i as uint8 (H, W, C) at the run's image size (C: the run's
            channels, `cfg.channel_set`).
    """

    root: str
    synthetic: bool
    ids: list
    targets: np.ndarray
    groups: list
    reader: object
    classes: tuple | None = None  # the folder's own class names (classes.csv), else None
    # changes when a sample's image files (size, modification time) or labels change: a
    # finished fold trained on other data is trained again (`gapnet.cv.kfold.run_fold`)
    fingerprint: str = ""


def resolve_data(cfg: Config, log=print) -> tuple[str, bool]:
    """The dataset root and whether it is synthetic: the embedded atlas (generated once,
    cached; with the run's single-cell variability and scheme), or a `--data` folder
    carrying the generator's marker (`SYNTHETIC.json`)."""
    if cfg.data:
        from gapnet.data.synthetic.marker import is_synthetic

        return cfg.data, is_synthetic(cfg.data)
    from gapnet.data.synthetic.default import default_dataset

    path = default_dataset(
        cfg.synthetic_n,
        cfg.synthetic_size,
        cfg.synthetic_seed,
        log,
        variability=cfg.synthetic_variability,
        scheme=cfg.scheme or "hpa2018",
    )
    return path, True


NOTE_LINES = 5  # the run's log shows this many lines of notes (one per kind of note)


def prepare(cfg: Config, log=print) -> Prepared:
    """Validates the data (stopping on a bad file unless `cfg.skip_bad`) and opens a reader."""
    from gapnet.data.cache import open_reader
    from gapnet.data.validate import check_or_raise, summarize_notes, validate

    root, synthetic = resolve_data(cfg, log)
    report = validate(
        root,
        "train",
        cfg.image_size,
        progress=False,
        scheme=cfg.scheme,
        channels=cfg.channel_set,
    )
    lines = summarize_notes(report.notes)
    for line in lines[:NOTE_LINES]:
        log(line)
    if len(lines) > NOTE_LINES:
        log(
            f"NOTE ... and {len(lines) - NOTE_LINES} more line(s) of notes left out; every "
            f"note: python data_prep/validate.py {root} --size {cfg.image_size} --all-notes"
        )
    ids = check_or_raise(report, cfg.skip_bad, log)
    src = report.source
    table = src.labels.subset(np.isin(np.array(src.labels.ids), ids))
    reader = open_reader(src, table.ids, cfg.image_size, cfg.cache, log)
    classes = None
    if table.scheme == "own":
        from gapnet.schemes import scheme_of_width

        classes = scheme_of_width(table.targets.shape[1]).classes
    import hashlib

    from gapnet.data.cache import sample_prints

    h = hashlib.sha256(sample_prints(src.image_dir, src.ext, table.ids, src.channels.names))
    h.update(np.ascontiguousarray(table.targets, np.uint8).tobytes())
    return Prepared(
        root,
        synthetic,
        list(table.ids),
        table.targets,
        list(table.groups),
        reader,
        classes,
        h.hexdigest(),
    )
