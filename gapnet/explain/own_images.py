"""Explaining a user's own images (explain.py --images): the files `predict.py --images`
reads (per-channel PNG / TIFF sets, multi-channel TIFF / OME-TIFF, OME-Zarr:
`gapnet.data.microscope.find_images`), in the run's channel set or the files a
`--channel-map` names, at the run's pixel size where it records one
(`gapnet.data.at_scale`).

Which model explains: new images have no out-of-fold model, so every image is explained
by all fold models, maps and probabilities averaged (the fold average `predict.py` and
the preset use), at the run's thresholds. One image at a time is read, mapped, segmented
and written: memory does not grow with the number of images.

An image is one field at the model's size: resized to it (a run without a pixel size),
else resampled to the run's µm/px (its file's metadata, else `--pixel-size`) and padded
at the bottom and right when smaller. A field larger than the model's size at the run's
pixel size is refused, named (explain reads one window; predict.py --images averages
windows). Cells: a `<name>_cells` mask from `masks` (at the field's own resolution,
covering the field), else gapnet's segmentation of the field as the model reads it
(nucleus diameter scaled from 512 px to the model's size; needs a blue channel).
Writes what `run_explain.explain` writes for a labelled folder (figures, cells.csv,
segmentation.csv, gallery.html, summary.json); there are no true labels.
"""

from __future__ import annotations

import os

import numpy as np

from gapnet.data.at_scale import header_size, image_pixel_size, where
from gapnet.data.images import ImageError
from gapnet.data.labels import DataError
from gapnet.data.microscope import find_images, read_image
from gapnet.data.ome_zarr import ZarrImage
from gapnet.data.pixel_size import resample, resample_note, resampled_shape, tiles
from gapnet.explain import cells as cellcalls
from gapnet.explain import figures
from gapnet.explain.maps import class_maps
from gapnet.io import atomic_write_json, atomic_write_text
from gapnet.progress import track
from gapnet.segment import (
    SegmentParams,
    grow_cells,
    mask_path,
    read_mask,
    resize_labels,
    segmentation_row,
    write_segmentation_csv,
)

RULE = "all fold models averaged (no out-of-fold model for new images); the run's thresholds"


def read_field(name, source, size, run_um, given_um, channels, cs, notes, log):
    """(uint8 (size, size, C) field, (h, w) of the image inside it): at the run's pixel
    size `run_um` (zero-padded at the bottom and right when smaller), or resized to `size`
    when the run records none.

    Raises:
        ImageError: naming the file (a missing channel, larger than one window, ...)."""
    if run_um is None:
        return read_image(source, size, channels, cs, notes), (size, size)
    if isinstance(source, ZarrImage) and source.levels[0].um_per_px is None and given_um:
        source = source.with_pixel_size(given_um)  # axes without a unit: --pixel-size
    ps = image_pixel_size(name, source, given_um, log)
    if isinstance(source, ZarrImage) and ps is not None:
        from gapnet.data.ome_zarr_sample import zarr_windows

        (h0, w0), (uy, ux) = source.levels[0].shape, (ps.y, ps.x)
        shape = (max(1, round(h0 * uy / run_um)), max(1, round(w0 * ux / run_um)))
        _too_large(source.path, shape, size, run_um)
        log(
            f"note: {source.path}: {w0}x{h0} px at {ux:.4g} µm/px read at the run's "
            f"{run_um:.4g} µm/px ({shape[1]}x{shape[0]} px)"
        )
        batch = next(iter(zarr_windows(source, size, run_um, channels, cs, notes)))
        return batch[0], shape
    hw = header_size(source)
    if ps is not None and hw is not None:  # refused from the header, before the pixels
        at = resampled_shape(hw, (ps.y, ps.x), run_um, where(name, source))
        _too_large(where(name, source), at, size, run_um)
    image = read_image(source, None, channels, cs, notes)
    if ps is None:
        log(
            f"warning: {where(name, source)}: pixel size unknown (no metadata, no "
            f"--pixel-size): explained at its own size, taken as the run's {run_um:.4g} µm/px"
        )
    else:
        before = image.shape
        image, _ = resample(image, (ps.y, ps.x), run_um)
        log(resample_note(where(name, source), before, image.shape, ps, run_um))
    _too_large(where(name, source), image.shape[:2], size, run_um)
    return tiles(image, size)[0], image.shape[:2]


def _too_large(path, shape, size, run_um) -> None:
    if shape[0] > size or shape[1] > size:
        raise ImageError(
            path,
            f"{shape[1]}x{shape[0]} px at the run's {run_um:.4g} µm/px, larger than the "
            f"model's {size} px: explain reads one field per image (crop it; predict.py "
            "--images averages windows)",
        )


def field_cells(name, source, field, shape, masks, cs, nucleus_diameter, size, method="learned"):
    """(cell labels covering `field`, its segmentation.csv row or None): a given mask
    (resized to the image's part of the field, padding = background), else segmented."""
    if masks:
        path = mask_path(masks, name, "cells")
        if path is None:
            raise FileNotFoundError(f"{masks}: no {name}_cells.png / .npy / .tif mask")
        cells = np.zeros(field.shape[:2], np.int32)
        cells[: shape[0], : shape[1]] = read_mask(path, shape)
        return cells, None
    if cs.index("blue") is None:
        raise ImageError(where(name, source), "no nucleus (blue) channel to find cells with")
    d = nucleus_diameter * size / 512 if nucleus_diameter else None
    body = [field[..., cs.index(c)] for c in ("red", "yellow") if c in cs.roles]
    params = SegmentParams(nucleus_diameter=d, method=method)
    cells, nuclei, used = grow_cells(field[..., cs.index("blue")], body, params)
    given = "given" if nucleus_diameter else "estimated"
    d_used = round(float(used), 1)
    row = segmentation_row(name, where(name, source), cells, nuclei, d_used, given, params.method)
    if row["warning"]:
        import sys

        print(f"warning: {where(name, source)}: {row['warning']}", file=sys.stderr)
    return cells, row


def explain_images(req, explainers, thresholds, run_um, cs, out, trained=False, log=print) -> dict:
    """Explains every image at `req.images` (an `ExplainRequest`) with `explainers` (the
    run's fold models, averaged); writes `out`'s files and returns the summary."""
    size = explainers[0].model.input_shape[1]
    found = find_images(req.images, names=cs.names)
    wanted = list(req.ids) if req.ids and list(req.ids) != ["all"] else None
    if wanted:
        have = {n for n, _ in found}
        unknown = [i for i in wanted if i not in have]
        if unknown:
            raise DataError(f"--ids not among the images of {req.images}: {unknown[:5]}")
        found = [(n, s) for n, s in found if n in set(wanted)]
    n_classes = len(thresholds)
    kind = explainers[0].kind if req.method == "auto" else req.method
    log(f"explaining {len(found)} images ({RULE}; maps: {kind}, TTA {req.tta})")
    rows, seg_rows, names, extra, entries, probs = [], [], [], set(), [], {}
    called: dict = {}
    every = list(range(n_classes))
    with track(len(found), "explaining") as bar:
        for name, source in found:
            notes: list = []
            field, shape = read_field(
                name, source, size, run_um, req.pixel_size, req.channels, cs, notes, log
            )
            extra.update(notes)
            x = field[None]
            p = np.mean([e.probabilities(x)[0] for e in explainers], 0)
            maps = np.mean([class_maps(e, x, every, req.tta, req.method)[0] for e in explainers], 0)
            cells, seg_row = field_cells(
                name,
                source,
                field,
                shape,
                req.masks,
                cs,
                req.nucleus_diameter,
                size,
                req.segment_method,
            )
            if seg_row:
                seg_rows.append(seg_row)
            calls = set(np.flatnonzero(p > thresholds).tolist())
            shown = sorted(calls | set(req.classes))
            figures.sample_figure(
                os.path.join(out, "figures", f"{name}.png"),
                field,
                maps[shown],
                shown,
                p,
                f"{name}\n(no labels)",
                resize_labels(cells, field.shape[:2]),
                None,  # no labels: no panel says "(true)" or "(not true)"
                cs.roles,
            )
            scores, labels = cellcalls.cell_calls(p, thresholds, maps, every, cells)
            rows += cellcalls.cell_rows(name, scores, labels, cells)
            names.append(name)
            probs[name] = [round(float(v), 6) for v in p]
            called[name] = sorted(calls)
            entries += [
                {"class": k, "kind": "called", "id": name, "p": float(p[k]), "figure": fig}
                for k, fig in ((k, f"figures/{name}.png") for k in sorted(calls))
            ]
            bar.update()
    if extra:
        log(f"note: channel(s) {', '.join(sorted(extra))} dropped: the model uses {cs.describe()}")
    cells_how = (
        "masks from " + req.masks
        if req.masks
        else f"gapnet segmentation ({req.segment_method} nuclei) of each field at the model's "
        f"{size} px (nucleus diameter "
        + (f"{req.nucleus_diameter:g} px at 512" if req.nucleus_diameter else "estimated")
        + "; per image in segmentation.csv)"
    )
    method = {
        "maps": kind,
        "layers": explainers[0].tap_names if req.method == "auto" else ["the protein channel"],
        "rule_calls": "p > t",
        "tta": req.tta,
        "rule": RULE,
        "cells": cells_how,
        "cell_share": cellcalls.CELL_SHARE,
        "images": req.images,
        "channels": cs.describe(),
        "pixel_size": run_um,
    }
    atomic_write_text(
        os.path.join(out, "cells.csv"),
        "\n".join([cellcalls.cells_header(n_classes)] + rows) + "\n",
    )
    seg_csv = os.path.join(out, "segmentation.csv")
    if seg_rows:
        write_segmentation_csv(seg_csv, seg_rows)
    elif os.path.isfile(seg_csv):
        os.remove(seg_csv)
    figures.gallery_page(
        os.path.join(out, "gallery.html"),
        entries,
        f"Localization maps of {req.images}",
        f"{kind}; {RULE}; cells: {cells_how}."
        + (" Model trained on SYNTHETIC data: not meaningful for real images." if trained else ""),
        n_classes,
    )
    summary = {
        "samples": names,
        "method": method,
        "synthetic": False,
        "trained_on_synthetic": trained,
        "figures": [f"figures/{n}.png" for n in names[:4]],
        "probabilities": probs,  # per image, the fold average's
        "calls": called,  # p > t
    }
    atomic_write_json(os.path.join(out, "summary.json"), summary)
    return summary
