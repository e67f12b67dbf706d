"""The physical pixel size on real HPA 2021 fields: the same field at 2048 px (0.08 µm/px,
the HPA's documented pixel size), and downsampled to 1024 and 512 px, each given to
gapnet with its pixel size declared (an OME-TIFF's PhysicalSizeX) and without it (PNGs):
image-level probabilities, gapnet's cell counts and per-cell calls, against the 2048-px
declared ones.

    python benchmarks/pixel_size_real.py --fields DIR --masks DIR [--run RUN] [--out DIR]
                                         [--ids ID ...] [--json]

--fields: 2021 fields (`<ID>_<color>.png`, 2048 px); --masks: their reference cell masks
(`<ID>_predictedmask.png`, HPA-Cell-Segmentation's), which name the same cells at every
resolution for the per-cell calls. --run: a finished run folder with a pixel_size; without
it, a tiny run is trained on the synthetic atlas into OUT/run (GapNet at 128 px, declared at
1.28 µm/px: a whole 2048-px field at 0.08 µm/px is 128 px at 1.28). Its labels for real
fields mean nothing (it never saw HPA data): the measurement is of the scale handling, how
far the same field's predictions move when it arrives at another sampling.

Each version goes through the library's own paths: `gapnet.export.apply.predict_images`
(predict.py --images), `gapnet.segment.files.segment_images` (segment.py --images
--segment-at 0.32 --nucleus-diameter 50: HPA's 63x nuclei are ~50 px at 0.32 µm/px) and
explain's per-cell calls (`gapnet.explain.cells.cell_calls`, gradient x input maps of the
fold models, averaged; without a declared size the image's windows' maps are stitched).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from gapnet.jsonout import emit, json_main  # noqa: E402
from gapnet.quiet import quiet_tensorflow  # noqa: E402

COLORS = ("red", "green", "blue", "yellow")
FULL_UM = 0.08  # HPA-Cell-Segmentation#27: HPA images are 0.08 µm/px (2048-px fields)
SIDES = (2048, 1024, 512)
SEGMENT_UM, NUCLEUS_PX = 0.32, 50.0  # segment.py --segment-at 0.32 --nucleus-diameter 50
# Tolerances, fixed before the measurement: image-level max |dp| over the classes, cell
# count relative to the 2048-px declared count, and the share of cells whose called labels
# equal the 2048-px declared ones.
TOL_P, TOL_COUNT, TOL_CELLS = 0.05, 0.10, 0.90


def train_tiny(out: str, log) -> str:
    from gapnet.config import Config
    from gapnet.cv.kfold import run_kfold

    cfg = Config.synthetic_default(epochs=4).with_overrides(
        [
            "synthetic_n=240",
            "folds=2",
            "verbose=0",
            "tensorboard=false",
            f"pixel_size={FULL_UM * 2048 / 128}",
            "model_kwargs={widths: [16, 32, 32], dense: [64, 64]}",
        ]
    )
    run_kfold(cfg, out, log=log)
    return out


def write_versions(fields: str, ids, out: str) -> dict:
    """{(side, declared): folder} of every field at each side, as OME-TIFFs with
    PhysicalSizeX (declared) and as PNGs without."""
    import tifffile
    from PIL import Image

    from gapnet.data.images import read_channel
    from gapnet.data.pixel_size import resample

    folders = {}
    for side in SIDES:
        for declared in (True, False):
            folders[side, declared] = os.path.join(
                out, f"{side}-{'declared' if declared else 'plain'}"
            )
            os.makedirs(folders[side, declared], exist_ok=True)
    for sid in ids:
        full = np.stack(
            [read_channel(os.path.join(fields, f"{sid}_{c}.png"), c, None) for c in COLORS], -1
        )
        for side in SIDES:
            um = FULL_UM * full.shape[0] / side
            img = resample(full, FULL_UM, um)[0]
            meta = {"axes": "CYX", "PhysicalSizeX": um, "PhysicalSizeY": um}
            meta.update(PhysicalSizeXUnit="µm", PhysicalSizeYUnit="µm")
            meta["Channel"] = {"Name": list(COLORS)}
            path = os.path.join(folders[side, True], f"{sid}.tif")
            tifffile.imwrite(path, np.moveaxis(img, -1, 0), ome=True, metadata=meta)
            for c, color in enumerate(COLORS):
                Image.fromarray(img[..., c]).save(
                    os.path.join(folders[side, False], f"{sid}_{color}.png")
                )
    return folders


def cell_calls_of(explainers, thr, windows, cells):
    """Per-cell (scores, labels) of one image from its model windows (a g x g grid that
    tiles it exactly), the maps stitched back to the image."""
    from gapnet.explain import cells as cellcalls
    from gapnet.explain.maps import class_maps

    every = list(range(len(thr)))
    maps = np.mean([class_maps(e, windows, every, "none", "input_gradient") for e in explainers], 0)
    probs = np.mean([e.probabilities(windows) for e in explainers], 0).mean(0)
    g = int(round(np.sqrt(len(windows))))
    assert g * g == len(windows)
    rows = [np.concatenate(list(maps[r * g : (r + 1) * g]), axis=-1) for r in range(g)]
    return cellcalls.cell_calls(probs, thr, np.concatenate(rows, axis=-2), every, cells)


@json_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fields", required=True, help="2021 fields <ID>_<color>.png (2048 px)")
    p.add_argument("--masks", required=True, help="<ID>_predictedmask.png reference masks")
    p.add_argument("--run", help="run folder with a pixel_size (default: train a tiny one)")
    p.add_argument("--ids", nargs="+", help="fields (default: every one in --fields)")
    p.add_argument(
        "--out", default="pixel_size_real", help="work folder (default ./pixel_size_real)"
    )
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    a = p.parse_args(argv)
    quiet_tensorflow()
    from PIL import Image

    from gapnet.channels import ALL
    from gapnet.cv.submission import fold_models
    from gapnet.data.at_scale import read_windows
    from gapnet.explain.maps import Explainer
    from gapnet.export.apply import model_of_run, predict_images, run_pixel_size
    from gapnet.segment import SegmentParams, resize_labels
    from gapnet.segment.files import segment_images
    from gapnet.training.predict import load_model

    log = lambda *m: print(*m, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.time()
    ids = a.ids or sorted(
        {f.rsplit("_", 1)[0] for f in os.listdir(a.fields) if f.endswith("_green.png")}
    )
    run = a.run or train_tiny(os.path.join(a.out, "run"), log)
    run_um = run_pixel_size(run)
    if run_um is None:
        raise SystemExit(f"{run}: records no pixel_size (--set pixel_size=UM when training)")
    model, thr = model_of_run(run)
    size = model.input_shape[1]
    explainers = [Explainer(load_model(f, compile=False)) for f in fold_models(run)]
    folders = write_versions(a.fields, ids, os.path.join(a.out, "fields"))
    log(f"run {run} ({run_um} µm/px at {size} px); {len(ids)} fields at {SIDES} px")
    res: dict = {"run": run, "run_pixel_size": run_um, "ids": ids, "rows": []}
    ref: dict = {}
    for declared in (True, False):
        for side in SIDES:
            folder = folders[side, declared]
            notes: list = []
            names, probs, labels = predict_images(
                model, thr, folder, batch_size=32, channel_set=ALL, log=notes.append, run_um=run_um
            )
            segs = segment_images(
                folder,
                os.path.join(a.out, "masks", os.path.basename(folder)),
                None,
                SegmentParams(NUCLEUS_PX),
                target_um=SEGMENT_UM,
                log=notes.append,
            )
            count = {r["image"]: int(r["cells"] or 0) for r in segs}
            for name, prob, lab in zip(names, probs, labels, strict=True):
                sid = name
                source = (
                    os.path.join(folder, f"{sid}.tif")
                    if declared
                    else {c: os.path.join(folder, f"{sid}_{c}.png") for c in COLORS}
                )
                windows = read_windows(sid, source, size, run_um, None, None, ALL, None, None)
                mask = np.asarray(Image.open(os.path.join(a.masks, f"{sid}_predictedmask.png")))
                cells = resize_labels(mask.astype(np.int32), (side, side))
                scores, cell_labels = cell_calls_of(explainers, thr, windows, cells)
                row = {
                    "id": sid,
                    "side": side,
                    "declared": declared,
                    "windows": len(windows),
                    "probs": prob.tolist(),
                    "labels": list(lab),
                    "cells": count[sid],
                    "reference_cells": int(mask.max()),
                    "cell_scores": scores.tolist(),
                    "cell_labels": cell_labels,
                }
                if declared and side == SIDES[0]:
                    ref[sid] = row
                r0 = ref[sid]
                row["max_dp"] = float(np.max(np.abs(prob - np.asarray(r0["probs"]))))
                row["same_labels"] = list(lab) == r0["labels"]
                row["count_change"] = (count[sid] - r0["cells"]) / max(r0["cells"], 1)
                same = [x == y for x, y in zip(cell_labels, r0["cell_labels"], strict=True)]
                row["cells_same_calls"] = float(np.mean(same)) if same else 1.0
                row["max_cell_dscore"] = float(
                    np.max(np.abs(scores - np.asarray(r0["cell_scores"]))) if len(scores) else 0
                )
                res["rows"].append(row)
                log(
                    f"{sid[:8]} {side:>4} px {'declared' if declared else 'unknown ':8}: "
                    f"{len(windows):>3} windows, max|dp| {row['max_dp']:.3f}, labels "
                    f"{'same' if row['same_labels'] else 'differ'}, {count[sid]} cells "
                    f"({row['count_change']:+.0%}), per-cell calls same "
                    f"{row['cells_same_calls']:.0%}, max|d cell score| {row['max_cell_dscore']:.3f}"
                )
            res.setdefault("notes", []).extend(notes[:3])
    res["tolerance"] = {"max_dp": TOL_P, "count_change": TOL_COUNT, "cells_same_calls": TOL_CELLS}
    res["seconds"] = round(time.time() - t0, 1)
    table(res)
    if a.json:
        emit(res)
    return 0


def table(res: dict) -> None:
    """The docs/data.md table: per side and declared or not, the worst over the fields."""
    print(
        "| input | pixel size | windows | max abs dp | labels same | cells (2048 decl.: "
        "ref) | per-cell calls same | max abs d cell score |"
    )
    print("|---|---|---:|---:|---:|---|---:|---:|")
    for declared in (True, False):
        for side in SIDES:
            rows = [r for r in res["rows"] if r["side"] == side and r["declared"] == declared]
            um = f"{FULL_UM * 2048 / side:g} µm/px declared" if declared else "unknown"
            print(
                f"| {side} px | {um} | {rows[0]['windows']} | "
                f"{max(r['max_dp'] for r in rows):.3f} | "
                f"{sum(r['same_labels'] for r in rows)}/{len(rows)} | "
                + ", ".join(f"{r['cells']}" for r in rows)
                + f" | {min(r['cells_same_calls'] for r in rows):.0%} | "
                f"{max(r['max_cell_dscore'] for r in rows):.3f} |"
            )
    print(
        "reference cells (HPA-Cell-Segmentation): "
        + ", ".join(
            str(r["reference_cells"]) for r in res["rows"] if r["side"] == 2048 and r["declared"]
        )
    )


if __name__ == "__main__":
    sys.exit(main())
