"""Per-cell calls on a synthetic atlas draw with single-cell variability: mAP@0.6 of four
methods, with bootstrap intervals over images.

    python benchmarks/single_cell.py [--n 240] [--size 256] [--seed 22] [--variability 1]
                                     [--out DIR] [--json]

1. A fresh atlas draw (`write_dataset(..., variability=v, truth=True)`, 2018 classes) at
   --size px: each label of an image shows in a Beta(2, 2) share of its expressing cells.
2. The image model: the default job's settings (GapNet at 128 px, 3 folds) trained on it
   by `run_kfold`; its out-of-fold probabilities (each image scored by the fold model
   that never trained on it).
3. Cells: gapnet's segmentation of each image at its own size (the nucleus diameter
   given, 50 px at 512 scaled, as explain passes it); masked crops of those cells at
   --crop px, each labelled with its image's labels.
4. The cell model (`gapnet.single_cell.cell_model`, GapNet-PL on the crops) cross-fitted
   with the image model's folds: no cell of a scored image trains its scorer.
5. Four methods score every (predicted cell, class): (a) `image`: the image's probability;
   (b) `maps`: explain's calls from gradient x input maps (`cell_calls`' p_k * min(r_k, 1));
   (c) `cell`: the cell model's probability; (d) `image_x_cell`: their product; and the
   mean of (a) and (c) as the alternative to the product.
6. mAP@0.6 against the truth cells (`gapnet.single_cell.metric`, Open Images matching),
   both conventions ("all" images score every class; "present": only images holding the
   class), over the 28 classes (a cell showing nothing has no class; there is no Negative
   in the 2018 scheme); 95 % BCa bootstrap intervals over images, and the interval of
   image_x_cell minus image on the same resamples.

No threshold is involved in mAP (ranking only). Everything is synthetic; the seed must not
be a development draw of this benchmark (DEVELOPMENT_SEEDS).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from gapnet.quiet import quiet_tensorflow  # noqa: E402

quiet_tensorflow()
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

DEVELOPMENT_SEEDS = (21,)  # looked at while building the benchmark
METHODS = ("image", "maps", "cell", "image_x_cell", "image_mean_cell")


def truth_of(atlas: str, ids):
    """{Id: (cells label image, (n, 28) bool labels)} from the atlas's truth folder."""
    import csv

    from gapnet.classes import N_CLASSES
    from gapnet.data.segment import read_mask

    shows: dict = {}
    with open(os.path.join(atlas, "truth", "cells.csv"), newline="") as f:
        for r in csv.DictReader(f):
            shows.setdefault(r["Id"], {})[int(r["cell"])] = [int(k) for k in r["labels"].split()]
    out = {}
    for sid in ids:
        cells = read_mask(os.path.join(atlas, "truth", f"{sid}_cells.png"))
        labels = np.zeros((int(cells.max()), N_CLASSES), bool)
        for cell, ks in shows.get(sid, {}).items():
            labels[cell - 1, ks] = True
        out[sid] = (cells, labels)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=240, help="images in the draw")
    p.add_argument("--size", type=int, default=256, help="px of the atlas images")
    p.add_argument("--seed", type=int, default=22, help="the draw (not a development one)")
    p.add_argument("--variability", type=float, default=1.0)
    p.add_argument("--crop", type=int, default=64, help="px of the cell crops")
    p.add_argument("--cell-epochs", type=int, default=8)
    p.add_argument("--image-epochs", type=int, default=12)
    p.add_argument("--out", help="keep the atlas and runs here (default: a temporary folder)")
    p.add_argument("--allow-development", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.seed in DEVELOPMENT_SEEDS and not args.allow_development:
        p.error(f"--seed {args.seed} is a development draw; pass --allow-development")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args, args.out or tmp)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(result, indent=1))
    return 0


def run(args, folder: str) -> dict:
    from gapnet.config import Config
    from gapnet.cv.kfold import run_kfold
    from gapnet.cv.runfolder import read_predictions
    from gapnet.cv.submission import fold_models
    from gapnet.data.images import read_sample
    from gapnet.data.labels import read_labels
    from gapnet.data.segment import SegmentParams, segment_cells
    from gapnet.data.synthetic.generate import write_dataset
    from gapnet.explain.cells import cell_calls
    from gapnet.explain.maps import Explainer, class_maps
    from gapnet.metrics import grouped_bootstrap
    from gapnet.single_cell.cell_model import CellModelConfig, cell_folds, combine, cross_fit
    from gapnet.single_cell.crops import cell_crops
    from gapnet.single_cell.metric import image_hits, pooled_map
    from gapnet.training.predict import load_model

    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    atlas = os.path.join(folder, f"atlas-n{args.n}-s{args.size}-seed{args.seed}")
    if not os.path.isfile(os.path.join(atlas, "train.csv")):
        log(f"atlas: {args.n} images at {args.size} px, variability {args.variability}")
        write_dataset(
            atlas, args.n, args.size, args.seed, progress=False, variability=args.variability
        )
    table = read_labels(os.path.join(atlas, "train.csv"))
    ids = list(table.ids)
    run_dir = os.path.join(folder, "image_run")
    cfg = Config.from_dict(
        {"data": atlas, "verbose": 0}, base=Config.synthetic_default(args.image_epochs)
    )
    log("image model: the default job's settings, 3 folds")
    run_kfold(cfg, run_dir, log=log)
    oof_ids, oof = read_predictions(os.path.join(run_dir, "oof_predictions.csv"))
    image_p = oof[[oof_ids.index(i) for i in ids]]
    import csv

    with open(os.path.join(run_dir, "folds.csv"), newline="") as f:
        fold_of = {r["Id"]: int(r["fold"]) for r in csv.DictReader(f)}
    folds = np.array([fold_of[i] for i in ids])
    truth = truth_of(atlas, ids)

    log("cells: segmentation at each image's own size, masked crops")
    params = SegmentParams(nucleus_diameter=50 * args.size / 512)
    pred_cells, crops, crop_img = [], [], []
    for n, sid in enumerate(ids):
        full = read_sample(os.path.join(atlas, "train"), sid, args.size)
        cells = _relabel(segment_cells(full, params)[0])
        pred_cells.append(cells)
        c, _ = cell_crops(full, cells, args.crop)
        crops.append(c)
        crop_img += [n] * len(c)
    crops = np.concatenate(crops)
    crop_img = np.array(crop_img)
    cfg_cell = CellModelConfig(crop_size=args.crop, epochs=args.cell_epochs, seed=args.seed)
    cf = cell_folds(ids, folds, [ids[i] for i in crop_img])
    cell_p = cross_fit(crops, table.targets[crop_img].astype(np.float32), cf, cfg_cell, log)

    log("maps: gradient x input of each image's own fold model")
    explainers = [Explainer(load_model(p, compile=False)) for p in fold_models(run_dir)]
    every = list(range(table.targets.shape[1]))
    thr = np.full(len(every), 0.5)  # unused by the scores, which do not threshold
    scores = {m: [] for m in METHODS}
    start = 0
    for n, sid in enumerate(ids):
        k = len(np.unique(pred_cells[n])) - 1
        rows = slice(start, start + k)
        start += k
        img = read_sample(os.path.join(atlas, "train"), sid, cfg.image_size)
        maps = class_maps(explainers[folds[n]], img[None], every, method="input_gradient")[0]
        m_scores = cell_calls(image_p[n], thr, maps, every, pred_cells[n])[0]
        per_image = np.repeat(image_p[n][None], k, 0)
        scores["image"].append(per_image)
        scores["maps"].append(m_scores)
        scores["cell"].append(cell_p[rows])
        scores["image_x_cell"].append(combine(per_image, cell_p[rows], "product"))
        scores["image_mean_cell"].append(combine(per_image, cell_p[rows], "mean"))
    hits = {
        m: [image_hits(*truth[sid], pred_cells[n], s[n]) for n, sid in enumerate(ids)]
        for m, s in scores.items()
    }
    result = {
        "n_images": len(ids),
        "n_cells_predicted": int(len(crops)),
        "seed": args.seed,
        "variability": args.variability,
        "map": {},
        "map_ci95": {},
    }
    groups = np.arange(len(ids))
    for conv in ("all", "present"):
        for m in METHODS:
            point, ci = grouped_bootstrap(
                lambda rows, m=m, c=conv: pooled_map([hits[m][i] for i in rows], c)["map"],
                groups,
            )
            result["map"][f"{m}/{conv}"] = point
            result["map_ci95"][f"{m}/{conv}"] = list(ci)
        diff, ci = grouped_bootstrap(
            lambda rows, c=conv: (
                pooled_map([hits["image_x_cell"][i] for i in rows], c)["map"]
                - pooled_map([hits["image"][i] for i in rows], c)["map"]
            ),
            groups,
        )
        result[f"gain_{conv}"], result[f"gain_ci95_{conv}"] = diff, list(ci)
    result["gain_ci95"] = result["gain_ci95_all"]
    print_table(result)
    return result


def _relabel(cells: np.ndarray) -> np.ndarray:
    """Labels 1..k in order (the crops' and scores' row order), whatever the mask used."""
    ids = np.unique(cells)
    ids = ids[ids > 0]
    lut = np.zeros(int(cells.max()) + 1, np.int32)
    lut[ids] = np.arange(1, len(ids) + 1)
    return lut[cells]


def print_table(r: dict) -> None:
    print(
        f"\n{r['n_images']} images, {r['n_cells_predicted']} predicted cells (synthetic, seed "
        f"{r['seed']}, variability {r['variability']}); mAP@0.6, 95 % BCa intervals over images"
    )
    print("| method | mAP@0.6 (all images) | mAP@0.6 (images holding the class) |")
    print("|---|---:|---:|")
    for m in METHODS:
        cells = [
            f"{r['map'][f'{m}/{c}']:.3f} [{r['map_ci95'][f'{m}/{c}'][0]:.3f}, "
            f"{r['map_ci95'][f'{m}/{c}'][1]:.3f}]"
            for c in ("all", "present")
        ]
        print(f"| {m} | " + " | ".join(cells) + " |")
    for c in ("all", "present"):
        lo, hi = r[f"gain_ci95_{c}"]
        print(f"image_x_cell minus image ({c}): {r[f'gain_{c}']:+.3f} [{lo:+.3f}, {hi:+.3f}]")


if __name__ == "__main__":
    sys.exit(main())
