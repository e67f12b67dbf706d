"""What the napari widget computes, without Qt: a field's cells, its calls and its maps,
the way `experiments/explain.py --data` computes them for an image from another folder
(every fold model averaged, the run's thresholds), so the per-cell table equals that
job's cells.csv row for row.

- `load_model_source(path, proc)`: a finished run folder or a preset folder (`export.py
  --out`), loaded in the child process (`model_process`: napari's process never imports
  TensorFlow).
- `read_field(source)`: a sample (`{colour: file}` or a multi-channel TIFF) at its own size.
- `segment_field(field)`: cells and nuclei through `gapnet.segment.segment_cells`.
- `classify_field(proc, model, source, cells)`: probabilities, all classes' maps, per-cell
  scores and labels, and the cells.csv table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from gapnet.channels import ALL, ChannelSet
from gapnet.classes import CHANNELS

NUCLEUS_DIAMETER_512 = 50.0  # explain.py's default: px at 512, scaled to the field's size


class FieldError(ValueError):
    """A field or model the widget cannot use; the message names the file and the reason."""


@dataclass
class ModelSource:
    """What the widget knows of a loaded model (the models themselves live in the child
    process: `gapnet.napari.model_process`)."""

    path: str
    kind: str  # "run" or "preset"
    n_models: int  # fold models averaged
    thresholds: np.ndarray
    class_names: tuple
    size: int
    rule: str  # which thresholds and how they were chosen
    trained_on_synthetic: bool
    channel_set: ChannelSet = ALL  # the channels the model reads (the run's or preset's)


def check_model_folder(path: str) -> str:
    """The absolute path of a preset folder or a finished run folder (checked without
    TensorFlow, before the child process loads it).

    Raises:
        FieldError: `path` is neither, or is not finished.
    """
    path = os.path.abspath(path)
    if os.path.isfile(os.path.join(path, "preset.json")):
        return path
    from gapnet.cv.runfolder import RunError
    from gapnet.cv.runread import require_finished

    try:
        require_finished(path)
    except RunError as e:
        raise FieldError(f"{path}: not a finished run folder or a preset ({e})") from None
    return path


def load_model_source(path: str, proc) -> ModelSource:
    """The fold models of a run or preset folder, loaded in `proc` (a
    `model_process.ModelProcess`); what the widget shows of them."""
    from gapnet.napari.model_process import load_in_child

    return proc.run(load_in_child, check_model_folder(path))


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


def _has(planes: dict, role: str, name: str) -> bool:
    return role in planes or name in planes or name.lower() in planes


def missing_channels(planes: dict, channel_set: ChannelSet = ALL) -> list[str]:
    """The roles of `channel_set` (a run's or preset's) that the field's planes lack."""
    pairs = zip(channel_set.roles, channel_set.names, strict=True)
    return [r for r, n in pairs if not _has(planes, r, n)]


def check_channels(name: str, planes: dict, channel_set: ChannelSet = ALL) -> str:
    """A note naming the field's channels the model does not read (dropped), or "".

    Raises:
        FieldError: the field lacks channels the model reads, naming them.
    """
    missing = missing_channels(planes, channel_set)
    if missing:
        raise FieldError(
            f"{name} has the channels {', '.join(sorted(planes))}; the model reads "
            f"{', '.join(channel_set.roles)} (missing: {', '.join(missing)})"
        )
    used = set(channel_set.roles) | set(channel_set.names)
    extra = sorted(c for c in planes if c not in used)
    return f"channels not read by the model (dropped): {', '.join(extra)}" if extra else ""


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
    proc, model: ModelSource, sample_id: str, source, cells, channels=None, method="input_gradient"
):
    """A generator: yields (step, steps) as each fold model's maps are done, and returns
    the field's `Calls` (probabilities, all classes' maps, per-cell calls) as explain.py
    --data computes them: the image read at the model's size in the model's channels
    (`model.channel_set`, others dropped), every fold model averaged,
    cells scored at their own size. The models run in `proc`'s child process."""
    from gapnet.data.microscope import read_image
    from gapnet.napari import model_process as child

    image = read_image(source, model.size, channels, channel_set=model.channel_set)
    n_classes = len(model.thresholds)
    probs = proc.run(child.probabilities_in_child, model.path, image)
    maps = []
    for n in range(model.n_models):
        maps.append(proc.run(child.fold_maps_in_child, model.path, n, image, n_classes, method))
        yield n + 1, model.n_models + 1
    calls = proc.run(
        child.calls_in_child, sample_id, probs, model.thresholds, np.mean(maps, 0), cells
    )
    yield model.n_models + 1, model.n_models + 1
    return calls


def cell_calls(sample_id: str, probs, thresholds, maps, cells) -> Calls:
    """The field's `Calls` from its probabilities and its maps averaged over the folds
    (`gapnet.explain.cells`, as explain.py scores cells)."""
    from gapnet.cv.submission import decide
    from gapnet.explain import cells as cellcalls

    every = list(range(len(thresholds)))
    scores, labels = cellcalls.cell_calls(probs, thresholds, maps, every, cells)
    rows = cellcalls.cell_rows(sample_id, scores, labels, cells)
    called = decide(probs[None], thresholds[None], "none")[0]
    return Calls(
        probs, list(called), maps, scores, labels, rows, cellcalls.cells_header(len(every))
    )


def classify_field(proc, model: ModelSource, sample_id: str, source, cells, channels=None):
    """`iter_classify` run to its end."""
    steps = iter_classify(proc, model, sample_id, source, cells, channels)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def cell_table(calls: Calls, class_names) -> dict:
    """The per-cell table as columns (cells.csv's, numbers parsed), plus `index` (the cell's
    label, napari's key), `label_names` and `top_class` (the name of its best called class,
    the one its colour and text name, `layers.best_called`; "-" when none is called)."""
    from gapnet.napari.layers import best_called

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
    best = [best_called(out, i) for i in range(len(out["index"]))]
    out["top_class"] = np.asarray(["-" if b is None else class_names[b] for b in best], object)
    return out
