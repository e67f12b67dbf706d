"""Per-cell classification (the HPA 2021 task): an image model, a cell model trained with
image labels only, and four ways to score each cell, side by side, into a run folder.

    python experiments/run_single_cell.py                 # synthetic atlas with variability
    python experiments/run_single_cell.py --data ROOT --scheme hpa2021 [--masks DIR]

Without --data it draws a synthetic atlas in the 2021 scheme whose cells show different
labels of their image (single-cell variability), trains and cross-fits both models, and
scores mAP@0.6 and per-cell macro-F1 against the atlas's true cells (docs/single_cell.md).
With --data (a 2021 layout; a 2018 one with --scheme hpa2018) it trains on the image
labels and writes every cell's scores (cells.csv); figures against true cells need the
atlas's truth folder. Rerunning with the same --out resumes: the image run's finished
folds, each field's cached cells, each finished cell-model fold and the maps are read
back (scoring and the report are redone); other settings are refused unless --force.
"""

import argparse
import os
import sys
import time

from gapnet.jsonout import emit, json_main
from gapnet.quiet import quiet_tensorflow


@json_main
def main(argv=None) -> int:
    from dataclasses import replace

    from gapnet.single_cell.run import SingleCellConfig, run_single_cell

    d = SingleCellConfig()
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", help="dataset root (default: the synthetic atlas)")
    p.add_argument("--scheme", default=d.scheme, choices=("hpa2018", "hpa2021"))
    p.add_argument("--masks", help="folder of <Id>_cells.png / <Id>_predictedmask.png")
    p.add_argument(
        "--nucleus-diameter",
        type=float,
        help="gapnet's segmentation: nucleus diameter in px at 512, scaled to each field "
        "(default: estimated from each field)",
    )
    p.add_argument(
        "--pixel-size",
        dest="pixel_size",
        metavar="UM",
        help="µm per pixel of the fields as the image model reads them (at its 128 px): "
        "recorded in the image run's config.json (pixel_size), to which predict.py resamples "
        "a user's image; e.g. 2048-px 2021 fields at 0.08 µm/px: 1.28 (docs/data.md)",
    )
    p.add_argument(
        "--workers",
        type=int,
        help="processes segmenting and cropping the fields (default: the cores available)",
    )
    p.add_argument("--n", type=int, default=d.synthetic_n, help="atlas images (default 240)")
    p.add_argument("--size", type=int, default=d.synthetic_size, help="atlas px (default 256)")
    p.add_argument("--seed", type=int, default=d.synthetic_seed, help="atlas draw (default 0)")
    p.add_argument("--variability", type=float, default=d.variability)
    p.add_argument("--image-epochs", type=int, default=d.image_epochs)
    p.add_argument("--cell-epochs", type=int, default=d.cell.epochs)
    p.add_argument("--cell-model", default=d.cell.model, help="any registered network")
    p.add_argument("--crop", type=int, default=d.cell.crop_size, help="cell crop px (64)")
    p.add_argument("--edge-weight", type=float, default=d.edge_weight)
    p.add_argument("--negative", default=d.negative, choices=("model", "none_of"))
    p.add_argument("--no-maps", action="store_true", help="skip the map-based method")
    p.add_argument("--out", help="run folder (default runs/<date>-single-cell)")
    p.add_argument("--json", action="store_true", help="print results.json")
    p.add_argument(
        "--force",
        action="store_true",
        help="continue --out with changed settings, redoing the stages they feed",
    )
    a = p.parse_args(argv)
    if a.workers is not None and a.workers < 1:
        p.error(f"--workers {a.workers}: give 1 or more (default: the cores available)")
    if a.pixel_size is not None:
        from gapnet.data.pixel_size import PixelSizeError, parse_pixel_size

        try:
            a.pixel_size = parse_pixel_size(a.pixel_size)
        except PixelSizeError as e:
            p.error(str(e))
    quiet_tensorflow()  # after parsing: --help never waits for TensorFlow
    cfg = SingleCellConfig(
        data=a.data,
        scheme=a.scheme,
        masks=a.masks,
        nucleus_diameter=a.nucleus_diameter,
        pixel_size=a.pixel_size,
        synthetic_n=a.n,
        synthetic_size=a.size,
        synthetic_seed=a.seed,
        variability=a.variability,
        image_epochs=a.image_epochs,
        edge_weight=a.edge_weight,
        negative=a.negative,
        maps=not a.no_maps,
        workers=a.workers,
        cell=replace(d.cell, epochs=a.cell_epochs, model=a.cell_model, crop_size=a.crop),
    )
    out = a.out or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S") + "-single-cell")
    log = lambda *x: print(*x, file=sys.stderr, flush=True)  # noqa: E731
    from gapnet.cv.runfolder import RunError
    from gapnet.data.images import ImageError
    from gapnet.data.labels import DataError

    try:
        r = run_single_cell(cfg, out, log, force=a.force)
    except (DataError, ImageError, RunError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:
        emit(r)
    elif "map" in r:
        m = r["map"]
        print(
            f"{out}: mAP@0.6 (all images) image {m['image/all']:.3f}, cell {m['cell/all']:.3f}, "
            f"image x cell {m['image_x_cell/all']:.3f}; report {out}/report/report.md"
        )
    else:
        print(f"{out}: {r['n_cells']} cells scored in {out}/cells.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
