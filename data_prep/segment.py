"""Segments nuclei and cells in every sample of a dataset, or in your own images (no
download: the learned segmenter's weights are in the package).

    python data_prep/segment.py ROOT --out MASKS [--size 512] [--nucleus-diameter D]
                                [--body-threshold 0.25] [--split train|test] [--workers N]
                                [--method learned|classical]
    python data_prep/segment.py --images PATH --out MASKS [--channels blue,red,...]
                                [--nucleus-diameter D] [--method learned|classical]
                                [--channel-map DAPI=blue,...] [--tile 2048] [--overlap 512]

ROOT (Kaggle layout): writes MASKS/<Id>_cells.png and MASKS/<Id>_nuclei.png, 16-bit label
images at --size, 0 = background, cell i grown from nucleus i, and MASKS/segmentation.csv
(per sample: the nucleus diameter used, given or estimated, the counts, the labels of the
cells cut by the image's edge, a warning where no nucleus was found; each sample's row is
kept in MASKS/rows/<Id>.json). A killed run continues where it stopped. It refuses to start
when the masks still to write would not fit on the disk (folder and bytes named).

--images: a TIFF / OME-TIFF file, or a folder of them, of per-channel files
`<stem>_<color>.<png|jpg|tif>` and of single-channel nucleus images (the reading rules of
experiments/predict.py --images; any subset of the channels that has blue, the nuclei).
Writes MASKS/<stem>_nuclei.png and, where a cytoplasm channel exists, MASKS/<stem>_cells.png
at the image's own size, and MASKS/segmentation.csv (the nucleus diameter used, the counts,
the labels cut by the image's edge, a warning where no nucleus was found, the error of an
image that failed: the others are still segmented, and the exit status is 1). Files named
`*_nuclei.*` / `*_cells.*` are masks, not read as images. --channels names a multi-plane
file's channels in file order (else OME names); a single-plane file, or a colour file
whose planes are equal, is a nucleus image; another multi-plane file without names is
refused (docs/segmentation.md). --channel-map (e.g. DAPI=blue,Tubulin=red) gives your own
channel names their roles: per-channel files `<stem>_DAPI.png`, a TIFF's OME or --channels
names, an OME-Zarr's omero labels.
An OME-Zarr image (`<name>.zarr`, a plate, or a folder holding them) is segmented at its
full resolution tile by tile (--tile px, neighbours overlapping by --overlap px: give at
least the largest cell's diameter), each cell kept by the one tile whose core holds its
nucleus' centre, so a cell cut by a tile's edge is counted once; its channels are its omero
labels, through --channel-map (e.g. DAPI=blue,Tubulin=red) or named by colour. Its masks
are also written into it as OME-Zarr labels (`labels/nuclei`, `labels/cells`); PNG masks
only up to 4096 x 4096 px (docs/data.md, OME-Zarr).

Nuclei come from gapnet's learned segmenter (`--method learned`, the default: a small
U-Net trained on the Data Science Bowl 2018 nuclei, weights in the package) or from the
classical threshold-and-watershed pipeline (`--method classical`); cells are grown from
them on the cytoplasm channels either way. Both measured on real references:
docs/segmentation.md.
--segment-at UM (--images): resample each image to UM µm per pixel first (from its OME-TIFF
/ TIFF metadata, else --pixel-size UM), one note per image saying by how much; masks are
written back at the image's own size. Segmenting fields of different magnifications at one
pixel size makes a nucleus diameter in pixels mean the same size in µm (HPA's 63x fields:
50 px at 0.32 µm/px, docs/data.md). An image whose pixel size is unknown is segmented at its
own size with a warning naming it.
--nucleus-diameter (pixels at the size segmented) is estimated from each image when absent.
`experiments/explain.py --cells MASKS` reads them (and masks from Cellpose or
HPA-Cell-Segmentation saved in the same naming as PNG, NPY or TIFF). Method and its known
failures: docs/segmentation.md.
"""

import argparse
import os
import sys

from gapnet.data.images import ImageError
from gapnet.data.labels import DataError
from gapnet.io import DiskSpaceError
from gapnet.segment import SegmentParams, segment_folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", nargs="?", help="dataset folder in the Kaggle layout")
    p.add_argument("--images", help="a TIFF file, or a folder of image files (not Kaggle)")
    p.add_argument(
        "--channels",
        help="channel names of multi-plane files in file order, e.g. blue,red; a single-plane "
        "or gray file is a nucleus image, another multi-plane file without names is refused",
    )
    p.add_argument("--out", required=True, help="mask folder (created)")
    p.add_argument(
        "--size",
        type=int,
        default=512,
        help="ROOT: segment at this size (default 512); --images: each image's own size",
    )
    p.add_argument(
        "--nucleus-diameter",
        type=positive,
        default=None,
        help="expected nucleus diameter in pixels at the size segmented (HPA's 63x fields: "
        "50 at 512 px, 200 at 2048); default: estimated from each image",
    )
    p.add_argument(
        "--body-threshold",
        type=float,
        default=SegmentParams.body_threshold,
        help="cell-body level as a fraction of the microtubule+ER Otsu threshold",
    )
    p.add_argument(
        "--method",
        default="learned",
        choices=["learned", "classical"],
        help="nuclei by gapnet's learned segmenter (default; weights in the package) or by "
        "the classical threshold-and-watershed pipeline",
    )
    p.add_argument(
        "--channel-map",
        dest="channel_map",
        help="--images: your channel names -> roles, e.g. DAPI=blue,Tubulin=red: an OME-Zarr's "
        "omero labels, a TIFF's OME or --channels names, per-channel files <stem>_DAPI.png "
        "(default: names that are colour names)",
    )
    p.add_argument(
        "--tile", type=int, default=2048, help="--images, OME-Zarr: tile side in px (2048)"
    )
    p.add_argument(
        "--overlap",
        type=int,
        default=512,
        help="--images, OME-Zarr: px shared by neighbouring tiles, at least the largest "
        "cell's diameter (512)",
    )
    p.add_argument(
        "--pixel-size",
        dest="pixel_size",
        metavar="UM",
        help="--images: µm per pixel of images whose files do not say (PNG, JPEG, plain TIFF)",
    )
    p.add_argument(
        "--segment-at",
        dest="segment_at",
        metavar="UM",
        help="--images: resample each image to this many µm per pixel before segmenting "
        "(masks written at the image's own size)",
    )
    p.add_argument("--split", default="train", choices=["train", "test"])
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = p.parse_args(argv)
    if bool(args.root) == bool(args.images):
        p.error("give a dataset ROOT or --images PATH (one of them)")
    if not 0 <= args.overlap < args.tile:
        p.error(f"--overlap {args.overlap} must be at least 0 and less than --tile {args.tile}")
    if (args.pixel_size or args.segment_at) and not args.images:
        p.error("--pixel-size and --segment-at go with --images")
    if args.pixel_size and not args.segment_at:
        p.error("--pixel-size needs --segment-at UM (the pixel size to segment at)")
    from gapnet.data.pixel_size import PixelSizeError, parse_pixel_size

    try:
        for key in ("pixel_size", "segment_at"):
            value = getattr(args, key)
            flag = "--" + key.replace("_", "-")
            setattr(args, key, parse_pixel_size(value, flag) if value else None)
    except PixelSizeError as e:
        p.error(str(e))
    if args.method == "learned":  # TensorFlow's start-up notices hidden (gapnet.quiet)
        from gapnet.quiet import quiet_tensorflow

        quiet_tensorflow()
    params = SegmentParams(args.nucleus_diameter, args.body_threshold, method=args.method)
    if args.images:
        return own_images(args, params)
    try:
        rows = segment_folder(
            args.root,
            args.out,
            args.size,
            params,
            args.split,
            args.workers,
            progress=True,
        )
    except (DataError, ImageError, DiskSpaceError) as e:
        kept = "\n(samples already segmented are kept; run again to continue)"
        print(f"error: {e}" + (kept if os.path.isdir(args.root) else ""), file=sys.stderr)
        return 1
    warned = [r for r in rows if r["warning"]]
    for r in warned[:20]:  # a few named, the rest counted (a log at 31,072 stays short)
        print(f"warning: {r['file']}: {r['warning']} (empty masks written)", file=sys.stderr)
    if len(warned) > 20:
        print(f"warning: {len(warned) - 20} more samples with empty masks", file=sys.stderr)
    mode = "given" if params.nucleus_diameter else "estimated"
    unknown = [r for r in rows if r["diameter"] == "not recorded"]
    other = [
        r
        for r in rows
        if r["diameter"] != "not recorded"  # not `r not in unknown`: quadratic in n
        and (
            r["method"] not in (params.method, "not recorded")  # rows before the column
            or r["diameter"] != mode
            or (mode == "given" and r["nucleus_diameter"] != round(params.nucleus_diameter, 1))
            or (int(r["height"]), int(r["width"])) != (args.size, args.size)
        )
    ]
    if other:
        print(
            f"warning: {len(other)} samples were segmented by an earlier run with other "
            f"settings and kept (e.g. {other[0]['height']} px, {other[0]['method']} method, "
            f"nucleus diameter {other[0]['nucleus_diameter']} {other[0]['diameter']}; "
            "segmentation.csv says "
            f"which); delete their masks in {args.out} to segment them again",
            file=sys.stderr,
        )
    if unknown:
        print(
            f"warning: {len(unknown)} samples were kept from a run that recorded no settings "
            "(their diameter is 'not recorded'); delete their masks to segment them again",
            file=sys.stderr,
        )
    empty = sum(bool(r["warning"]) for r in rows)
    print(
        f"segmented {len(rows)} samples into {args.out} (segmentation.csv"
        + (f"; {empty} with no nuclei found" if empty else "")
        + ")"
    )
    return 0


def own_images(args, params) -> int:
    from gapnet.channels import parse_channel_map
    from gapnet.segment.files import segment_images

    channels = [c.strip().lower() for c in args.channels.split(",")] if args.channels else None
    try:
        given = parse_channel_map(args.channel_map) if args.channel_map else None
    except ValueError as e:
        print(f"error: --channel-map: {e}", file=sys.stderr)
        return 1
    try:
        rows = segment_images(
            args.images,
            args.out,
            channels,
            params,
            channel_map=given,
            tile=args.tile,
            overlap=args.overlap,
            given_um=args.pixel_size,
            target_um=args.segment_at,
        )
    except (DataError, ImageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    failed = [r for r in rows if r["error"]]
    for r in rows:
        if r["error"]:
            print(f"error: {r['error']}", file=sys.stderr)
            continue
        cells = f", {r['cells']} cells" if r["cells"] != "" else ""
        print(
            f"{r['image']}: {r['nuclei']} nuclei{cells} (nucleus diameter "
            f"{r['nucleus_diameter']} px, {r['diameter']})"
        )
    print(f"masks and segmentation.csv in {args.out}")
    if failed:
        names = ", ".join(r["file"] for r in failed)
        print(f"error: {len(failed)} of {len(rows)} images failed: {names}", file=sys.stderr)
        return 1
    return 0


def positive(text: str) -> float:
    """An argparse type: a float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0 (pixels), got {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())
