"""What the napari widget computes, without Qt: a field's cells, its calls and its maps,
the way `experiments/explain.py --data` computes them for an image from another folder
(every fold model averaged, the run's thresholds), so the per-cell table equals that
job's cells.csv row for row.

- `load_model_source(path)`: a finished run folder or a preset folder (`export.py --out`).
- `read_field(source)`: a sample (`{colour: file}` or a multi-channel TIFF) at its own size.
- `segment_field(field)`: cells and nuclei through `gapnet.segment.segment_cells`.
- `classify_field(model, source, cells)`: probabilities, all classes' maps, per-cell
  scores and labels, and the cells.csv table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from gapnet.classes import CHANNELS

NUCLEUS_DIAMETER_512 = 50.0  # explain.py's default: px at 512, scaled to the field's size


class FieldError(ValueError):
    """A field or model the widget cannot use; the message names the file and the reason."""


@dataclass
class ModelSource:
    path: str
    kind: str  # "run" or "preset"
    explainers: list
    thresholds: np.ndarray
    class_names: tuple
    size: int
    rule: str  # which thresholds and how they were chosen
    trained_on_synthetic: bool


def load_model_source(path: str) -> ModelSource:
    """The fold models (as `gapnet.explain.maps.Explainer`s) and thresholds of a finished
    run folder or a preset folder.

    Raises:
        FieldError: `path` is neither, or is not finished.
    """
    from gapnet.io import read_json

    path = os.path.abspath(path)
    if os.path.isfile(os.path.join(path, "preset.json")):
        return _preset(path, read_json(os.path.join(path, "preset.json")))
    from gapnet.cv.runfolder import RunError
    from gapnet.cv.runread import require_finished, trained_on_synthetic

    try:
        require_finished(path)
    except RunError as e:
        raise FieldError(f"{path}: not a finished run folder or a preset ({e})") from None
    from gapnet.cv.submission import fold_models, run_thresholds
    from gapnet.explain.maps import Explainer
    from gapnet.schemes import scheme_of_width
    from gapnet.training.predict import load_model

    explainers = [Explainer(load_model(p, compile=False)) for p in fold_models(path)]
    thr = np.asarray(run_thresholds(path), np.float32)
    cfg = read_json(os.path.join(path, "config.json"))
    return ModelSource(
        path,
        "run",
        explainers,
        thr,
        tuple(scheme_of_width(len(thr)).classes),
        int(explainers[0].model.input_shape[1]),
        f"the run's thresholds ({cfg.get('threshold_strategy')}, tuned on its out-of-fold "
        "predictions); every fold model averaged",
        trained_on_synthetic(path),
    )


def _preset(path: str, meta: dict) -> ModelSource:
    import keras

    from gapnet.explain.maps import Explainer
    from gapnet.export.preset import load_preset

    preset = load_preset(path)
    folds = [x for x in preset.model.layers if isinstance(x, keras.Model)]
    return ModelSource(
        path,
        "preset",
        [Explainer(m) for m in folds] or [Explainer(preset.model)],
        preset.thresholds,
        preset.class_names,
        preset.image_size,
        f"the preset's thresholds ({meta.get('threshold_rule', 'unknown rule')}); "
        f"{len(folds) or 1} fold model(s) averaged",
        bool(meta.get("trained_on_synthetic")),
    )


def sample_of(path: str):
    """(name, what to read) for `path`: an HPA sample file `<id>_<colour>.<ext>` gives the
    {colour: file} of its siblings (`gapnet.data.microscope.find_images`), a folder holding
    one sample that sample, any other file itself (a TIFF or a lone image)."""
    from gapnet.data.microscope import find_images

    path = os.path.abspath(path)
    if os.path.isdir(path):
        found = find_images(path)
        if len(found) != 1:
            raise FieldError(f"{path}: {len(found)} samples in the folder; open one of its files")
        return found[0]
    from gapnet.data.images import ImageError

    try:
        found = find_images(os.path.dirname(path))
    except ImageError:  # a folder of lone images: the file is read by itself
        found = []
    for stem, source in found:
        if source == path or (isinstance(source, dict) and path in source.values()):
            return stem, source
    return os.path.splitext(os.path.basename(path))[0], path


def read_field(source, channels=None) -> dict[str, np.ndarray]:
    """{colour: plane at the file's own size and dtype} (`gapnet.data.microscope.read_planes`);
    ImageError names the file."""
    from gapnet.data.microscope import read_planes

    return read_planes(source, channels)


def missing_channels(planes: dict) -> list[str]:
    return [c for c in CHANNELS if c not in planes]


def segment_field(planes: dict, diameter_512: float | None = NUCLEUS_DIAMETER_512):
    """(cells, nuclei) label images at the field's own size: `gapnet.segment.segment_cells`
    with the nucleus diameter scaled from 512 px (as explain.py segments)."""
    from gapnet.segment import SegmentParams, segment_cells

    if "blue" not in planes:
        raise FieldError(
            "segmentation needs the nucleus (blue) channel; the field has " + ", ".join(planes)
        )
    blue = planes["blue"]
    side = blue.shape[0]
    image = np.stack([planes.get(c, np.zeros_like(blue)) for c in CHANNELS], -1)
    d = diameter_512 * side / 512 if diameter_512 else None
    return segment_cells(image, SegmentParams(nucleus_diameter=d))


@dataclass
class Calls:
    probs: np.ndarray  # (C,) the image's probabilities
    called: list  # the classes called for the image (p > t)
    maps: np.ndarray  # (C, size, size) every class's map at the model's size
    scores: np.ndarray  # (n_cells, C) per-cell scores p_ck
    labels: list  # per cell, the classes called in it
    rows: list  # cells.csv rows (without the header)
    header: str


def iter_classify(
    model: ModelSource, sample_id: str, source, cells, channels=None, method="input_gradient"
):
    """A generator: yields (step, steps) as each fold model's maps are done, and returns
    the field's `Calls` (probabilities, all classes' maps, per-cell calls) as explain.py
    --data computes them: the image read at the model's size, every fold model averaged,
    cells scored at their own size."""
    from gapnet.cv.submission import decide
    from gapnet.data.microscope import read_image
    from gapnet.explain import cells as cellcalls
    from gapnet.explain.maps import class_maps

    image = read_image(source, model.size, channels)
    every = list(range(len(model.thresholds)))
    probs = np.mean([e.probabilities(image[None]) for e in model.explainers], 0)[0]
    maps = []
    for n, e in enumerate(model.explainers):
        maps.append(class_maps(e, image[None], every, "none", method)[0])
        yield n + 1, len(model.explainers)
    maps = np.mean(maps, 0)
    scores, labels = cellcalls.cell_calls(probs, model.thresholds, maps, every, cells)
    rows = cellcalls.cell_rows(sample_id, scores, labels, cells)
    called = decide(probs[None], model.thresholds[None], "none")[0]
    return Calls(
        probs, list(called), maps, scores, labels, rows, cellcalls.cells_header(len(every))
    )


def classify_field(model: ModelSource, sample_id: str, source, cells, channels=None) -> Calls:
    """`iter_classify` run to its end."""
    steps = iter_classify(model, sample_id, source, cells, channels)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def cell_table(calls: Calls, class_names) -> dict:
    """The per-cell table as columns (cells.csv's, numbers parsed), plus `index` (the cell's
    label, napari's key), `label_names` and `top_class` (the name of its best class)."""
    head = calls.header.split(",")
    cols = {h: [] for h in head}
    for row in calls.rows:
        for h, v in zip(head, row.split(","), strict=True):
            cols[h].append(v)
    out = {"index": np.asarray(cols["cell"], int)}
    for h in head:
        if h in ("Id", "labels"):
            out[h] = np.asarray(cols[h], object)
        elif h in ("cell", "area", "edge"):
            out[h] = np.asarray(cols[h], int)
        else:
            out[h] = np.asarray(cols[h], float)
    out["label_names"] = np.asarray(
        ["; ".join(class_names[int(k)] for k in ls.split()) for ls in cols["labels"]], object
    )
    p = np.stack([out[f"p_{k}"] for k in range(len(class_names))], 1) if len(out["index"]) else []
    out["top_class"] = np.asarray([class_names[int(np.argmax(r))] for r in p], object)
    return out
