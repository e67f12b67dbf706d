"""Where the protein is: per-class localization maps, cells, per-cell calls, embeddings.

    python experiments/explain.py --run RUN [--data ROOT | --images PATH] [--ids ID ... | --n N]
                                  [--classes K ...] [--cells MASKS] [--tta flips]
                                  [--maps input_gradient|auto|integrated_gradients]
                                  [--embeddings] [--out DIR]

Without --data, the run's own samples, each explained by the fold model that never trained
on it (cross-fitted thresholds); with --data ROOT (Kaggle layout), those images by all
fold models averaged. With --images PATH (your own images, unlabelled: the files
predict.py --images reads, PNG / TIFF per-channel sets, multi-channel TIFF / OME-TIFF,
OME-Zarr; --channels, --channel-map as there), each image by all fold models averaged
(new images have no out-of-fold model), image by image, at the run's pixel size where it
records one (--pixel-size for files that do not say); a field larger than the model's size
at that scale is refused, named. Without --ids, the gallery takes the N highest-scoring true and
false positives of every class. Maps: gradient x input on the protein channel by default
(the best on the localization benchmark); --maps auto: exact CAM for a GAP -> Dense head,
Grad-CAM on every pooled level otherwise (docs/localization.md). Cells: label masks from MASKS
(`<Id>_cells.png|npy|tif`, e.g. from data_prep/segment.py, Cellpose or
HPA-Cell-Segmentation), else gapnet's own segmentation.

Writes DIR (default RUN/explain): figures/<Id>.png, gallery.html, cells.csv (Id, cell, x,
y, area in the mask's pixels, edge = 1 for a cell cut by the border, p_0..p_27, labels),
segmentation.csv when gapnet segments (the columns of data_prep/segment.py's: per sample
its size, the nucleus diameter used, given or estimated, nuclei, cells, edge cells, a
no-nuclei warning), summary.json ("trained_on_synthetic": a run trained on synthetic data,
also said on stderr and in the gallery's caption, whose maps of real images mean nothing),
and with --embeddings embeddings.npz, embeddings.h5ad, cells.h5ad (AnnData in SubCell's
layout, per image and per cell: X the embedding, obsm probabilities and X_umap, obs the ids
and metadata, uns the run; docs/export.md) and embedding.png (UMAP, else PCA); then
refreshes the run report, which shows a few of the figures (not with --data: the report
is scored on the run's own data, which --data does not read).

--pixel-size UM (with --data): the µm per pixel of its images as stored (PNGs carry none).
A run that records the pixel size it was trained at (config pixel_size) gets each whole
field resampled to it as it is read (a note per field size: "resampled 2048→512 px: 0.08 →
0.32 µm/px"); a field that would not then be the model's size is refused, named (explain
reads whole fields; predict.py --images cuts larger ones into windows). Without it, a
warning names the folder and the fields are read at the model's size as before.
"""

import argparse
import os
import sys

from gapnet.cv.runfolder import RunError
from gapnet.data.images import ImageError
from gapnet.data.labels import DataError
from gapnet.quiet import quiet_tensorflow


def parse(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--run", required=True, help="finished run folder (run_kfold.py --out)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--data", help="another Kaggle-layout folder (default: the run's samples)")
    where.add_argument(
        "--images",
        help="your own images: a TIFF / OME-TIFF file, an OME-Zarr (.zarr), or a folder of "
        "them and/or of per-channel files <stem>_<channel>.png (as predict.py --images)",
    )
    p.add_argument(
        "--channels",
        help="--images: TIFF channel names in file order, e.g. red,green,blue,yellow "
        "(default: OME metadata)",
    )
    p.add_argument(
        "--channel-map",
        dest="channel_map",
        help="--images: your file channel names -> the model's roles, e.g. ch1=green,ch2=blue "
        "(default: the names the run was trained on)",
    )
    p.add_argument(
        "--ids",
        nargs="+",
        default=[],
        help="explain these samples only; 'all': every sample (the gallery's picks use "
        "the true labels, so score cells.csv on --ids all or Ids chosen without them)",
    )
    p.add_argument(
        "--n", type=int, default=3, help="gallery: true and false positives per class (default 3)"
    )
    p.add_argument(
        "--classes",
        nargs="+",
        type=int,
        default=[],
        help="also draw these classes in the figures (every class is mapped; the "
        "called and true ones are always drawn)",
    )
    p.add_argument("--cells", metavar="MASKS", help="folder of <Id>_cells label masks")
    p.add_argument(
        "--nucleus-diameter",
        type=diameter_or_estimate,
        default=50.0,
        help="own segmentation: expected nucleus diameter in pixels at 512 px "
        "(default 50, HPA's 63x fields), or 'estimate' to estimate it per image "
        "(written to segmentation.csv)",
    )
    p.add_argument(
        "--segment-method",
        dest="segment_method",
        choices=["learned", "classical"],
        default=None,
        help="own segmentation: nuclei by gapnet's learned segmenter (default) or the "
        "classical pipeline (docs/segmentation.md); named in segmentation.csv; not with "
        "--cells (the masks are the cells)",
    )
    p.add_argument(
        "--maps",
        choices=["auto", "input_gradient", "integrated_gradients"],
        default="input_gradient",
        help="input_gradient (default): gradient x input on the protein channel, positive "
        "part (sums to 0 under per-image normalization), the map that scored best on the "
        "localization benchmark (measured on the default GapNet only); auto: exact CAM or "
        "Grad-CAM (by the network's head); "
        "integrated_gradients: from a blurred-protein baseline, whose sum is the logit's "
        "change (docs/localization.md)",
    )
    p.add_argument(
        "--tta",
        choices=["none", "flips", "d4"],
        default="none",
        help="average the maps of flipped/rotated views (turned back)",
    )
    p.add_argument(
        "--embeddings",
        action="store_true",
        help="also write the penultimate features of every sample (and of each explained "
        "cell) and a 2-D map: embeddings.h5ad and cells.h5ad, which scanpy reads",
    )
    p.add_argument(
        "--pixel-size",
        dest="pixel_size",
        metavar="UM",
        help="--data, --images: µm per pixel of images whose files do not say (PNG, plain "
        "TIFF); with a run that records its pixel size, each field is resampled to it when "
        "read (a note says by how much); --data: a field that would not then be the model's "
        "size is refused, named",
    )
    p.add_argument("--out", help="output folder (default RUN/explain)")
    p.add_argument("--no-report", action="store_true", help="do not refresh the run report")
    args = p.parse_args(argv)
    if args.segment_method and args.cells:
        p.error("--segment-method goes without --cells (the masks given are the cells)")
    args.segment_method = args.segment_method or "learned"
    if (args.channels or args.channel_map) and not args.images:
        p.error("--channels and --channel-map go with --images")
    if args.embeddings and args.images:
        p.error("--embeddings goes with the run's samples or --data, not --images")
    if args.channels:
        args.channels = [c.strip() for c in args.channels.split(",")]
    if args.channel_map:
        from gapnet.channels import parse_channel_map

        try:
            args.channel_map = parse_channel_map(args.channel_map)
        except ValueError as e:
            p.error(f"--channel-map: {e}")
    if args.pixel_size is not None:
        if not (args.data or args.images):
            p.error(
                "--pixel-size goes with --data or --images (the run's own samples are at its scale)"
            )
        from gapnet.data.pixel_size import PixelSizeError, parse_pixel_size

        try:
            args.pixel_size = parse_pixel_size(args.pixel_size)
        except PixelSizeError as e:
            p.error(str(e))
    return args


def main(argv=None) -> int:
    args = parse(argv)
    from gapnet.cv.runread import run_problem, synthetic_note, trained_on_synthetic

    problem = run_problem(args.run)  # before TensorFlow loads
    if problem:
        print(problem, file=sys.stderr)
        return 1
    if trained_on_synthetic(args.run):
        print(synthetic_note(args.run), file=sys.stderr, flush=True)
    quiet_tensorflow()  # after parsing: --help never waits for TensorFlow
    from gapnet.explain.run_explain import ExplainRequest, explain

    req = ExplainRequest(
        args.run,
        args.out,
        args.data,
        args.ids,
        args.n,
        args.classes,
        args.cells,
        args.nucleus_diameter,
        args.tta,
        args.embeddings,
        args.maps,
        args.pixel_size,
        args.images,
        args.channels,
        args.channel_map,
        args.segment_method,
    )
    try:
        summary = explain(req)
    except (RunError, DataError, ImageError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = args.out or os.path.join(args.run, "explain")
    print(f"wrote {len(summary['samples'])} figures, gallery.html and cells.csv to {out}")
    own = os.path.abspath(out) == os.path.abspath(os.path.join(args.run, "explain"))
    if (args.data or args.images) and own and not args.no_report:
        # The report is scored on the run's own data, which --data never reads (and which the
        # default atlas would regenerate): refresh it yourself when that data is at hand.
        print(
            f"run report not refreshed (images from {'--data' if args.data else '--images'}): "
            f"python experiments/report.py {args.run}"
        )
    elif own and not args.no_report:
        from gapnet.report.run_report import write_report

        write_report(args.run)  # logs its path
    return 0


def diameter_or_estimate(text: str) -> float | None:
    """An argparse type: a diameter > 0 in pixels, or 'estimate' (None)."""
    if text.strip().lower() == "estimate":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'estimate': {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0 (pixels) or 'estimate', got {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())
