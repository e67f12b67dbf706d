"""Predicts with a finished run or an exported preset: a Kaggle test set, or your own images.

    python experiments/predict.py --run RUN --data ROOT [--out submission.csv] [--tta d4]
    python experiments/predict.py --run RUN --images PATH [--channels red,green,blue,yellow]
    python experiments/predict.py --preset DIR --images PATH [--out predictions.csv]
    python experiments/predict.py --model PKG.zip --images PATH [--out predictions.csv]

--data: Ids come from ROOT/sample_submission.csv (the submission keeps its order), images
from ROOT/test/ (or ROOT). The fold models of RUN are averaged; the run's thresholds (tuned
on its out-of-fold predictions) decide the labels, and a sample with no class above its
threshold gets its most probable class (--empty none leaves it empty). Also writes the
averaged probabilities (Id + 28 columns) beside the submission (a 28-class run). Each fold's
probabilities are kept in <out>.parts/ block by block (1,024 samples) as they are finished,
with a manifest of the run (its fold models), the test images and the TTA: a killed
prediction resumes; parts made otherwise are discarded and predicted afresh.

--images: a multi-channel TIFF / OME-TIFF file, an OME-Zarr (`<name>.zarr`: an image, a
plate's fields named plate/row/col/field, or bioformats2raw series), or a folder of them
and/or of per-channel files `<stem>_<color>.<png|jpg|tif>`; 8- or 16-bit, any size (the
whole field resized to the model's; an OME-Zarr read lazily from its level nearest that
size, never whole: docs/data.md). Which channel is which: --channels (file order), else
OME channel names (an OME-Zarr's omero labels). Writes one CSV
row per image: Id (the stem), the labels and the probabilities (28, or 19 for a 2021 run;
a run on its data's own classes.csv: one column per class, named by the class).
A model trained on a channel set (e.g. GFP=green,DAPI=blue) reads the files its run named
(`<stem>_GFP.png`), or those --channel-map names (`ch1=green,ch2=blue`: `<stem>_ch1.png`);
an image lacking one is refused, named; channels the model does not use are dropped.
--pixel-size UM (--images): the images' µm per pixel where their files do not say (PNG,
JPEG, TIFF without OME PhysicalSizeX or resolution tags; "0.08", "80nm"). A run or preset
that records the pixel size it was trained at (config pixel_size) gets each image resampled
to it first, one note per image saying by how much; an image whose pixel size is unknown is
predicted at its own size with a warning naming it. A run without pixel_size resizes every
image to its size, as before (one note). docs/data.md, "Physical pixel size".
--model: a BioImage Model Zoo package (export.py --format bioimageio) run through
bioimageio.core (its ONNX weights when onnxruntime is installed), at its thresholds.json
attachment; its preset.json's pixel_size, --pixel-size and --channel-map as for a run.

--format hpa2021: the HPA 2021 Single-Cell submission (ID,ImageWidth,ImageHeight,
PredictionString) from a single-cell run (experiments/run_single_cell.py --out) or a plain
run: every cell of each field (--cells DIR: `<ID>_cells.png` or `_predictedmask.png`
masks; else gapnet's own segmentation) with its 19 scores, mask as COCO RLE. Fields come
from --images (a folder of `<ID>_<color>.png`) or --data ROOT (ROOT/sample_submission.csv,
images in ROOT/test/ or ROOT; checked first, every bad file listed). With --images a bad
field stops it, named. Finished fields are kept in <out>.parts/ (with the run and masks
that made them): a killed prediction resumes.

A model trained on synthetic data (the embedded atlas or a make_synthetic.py folder) is
named on stderr before anything is predicted: its labels for real images mean nothing.

Bad or missing images stop it with the full list, as data_prep/validate.py prints it.
--skip-bad (--data, hpa2018) drops those samples instead: each keeps its row in the
submission with an empty prediction (Kaggle wants every Id), is left out of the
probabilities CSV, and is listed (in the log and the closing summary).
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
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--run", help="finished run folder (run_kfold.py --out)")
    model.add_argument("--preset", help="preset folder written by experiments/export.py")
    model.add_argument(
        "--model",
        metavar="PKG.zip",
        help="BioImage Model Zoo package (export.py --format bioimageio), with --images",
    )
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", help="dataset root with sample_submission.csv (needs --run)")
    data.add_argument(
        "--images", help="a TIFF / OME-TIFF file, an OME-Zarr (.zarr), or a folder of images"
    )
    p.add_argument(
        "--channels",
        help="TIFF channel names in file order, e.g. red,green,blue,yellow (default: OME metadata)",
    )
    p.add_argument(
        "--channel-map",
        dest="channel_map",
        help="--images: your file channel names -> the model's roles, e.g. ch1=green,ch2=blue "
        "(default: the names the run was trained on)",
    )
    p.add_argument(
        "--pixel-size",
        dest="pixel_size",
        metavar="UM",
        help="--images: µm per pixel of images whose files do not say (PNG, JPEG, plain TIFF); "
        "each image is resampled to the pixel size the model was trained at",
    )
    p.add_argument(
        "--out",
        help="output CSV (default submission.csv with --data, predictions.csv with --images)",
    )
    p.add_argument(
        "--probabilities", help="--data: probabilities CSV (default: <out>_probabilities.csv)"
    )
    p.add_argument(
        "--tta",
        choices=["none", "flips", "d4"],
        help="--data: test-time augmentation: none, flips (4 views), d4 (8 "
        "views); default: the run's tta",
    )
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument(
        "--format",
        choices=["hpa2018", "hpa2021"],
        default="hpa2018",
        help="hpa2018: image labels (Kaggle 2018 CSV); hpa2021: per-cell submission",
    )
    p.add_argument("--cells", help="--format hpa2021: folder of cell masks (default: segment)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="--format hpa2021: processes that read and segment fields while this one "
        "scores them (default: the cores available; the same CSV for any number)",
    )
    p.add_argument(
        "--skip-bad",
        dest="skip_bad",
        action="store_true",
        help="--data, --format hpa2018: drop samples with bad image files instead of "
        "stopping; each keeps its row in the submission with an empty prediction, is left "
        "out of the probabilities CSV, and is listed",
    )
    p.add_argument(
        "--empty",
        choices=["top", "none"],
        default="top",
        help="a sample with no class above threshold: its top class, or nothing",
    )
    args = p.parse_args(argv)
    if args.model and not args.images:
        p.error("--model (a zoo package) goes with --images")
    if args.data and not args.run:
        p.error("--data (a Kaggle test set) needs --run")
    if args.format == "hpa2021" and not args.run:
        p.error("--format hpa2021 needs --run")
    if args.workers is not None and (args.format != "hpa2021" or args.workers < 1):
        p.error("--workers goes with --format hpa2021 and is 1 or more")
    if args.cells and args.format != "hpa2021":
        p.error("--cells goes with --format hpa2021")
    if args.skip_bad and (not args.data or args.format != "hpa2018"):
        p.error("--skip-bad goes with --data and --format hpa2018 (a Kaggle 2018 test set)")
    if args.pixel_size is not None:
        if not args.images or args.format != "hpa2018":
            p.error("--pixel-size goes with --images (image labels)")
        from gapnet.data.pixel_size import PixelSizeError, parse_pixel_size

        try:
            args.pixel_size = parse_pixel_size(args.pixel_size)
        except PixelSizeError as e:
            p.error(str(e))
    return args


def test_set(args) -> int:
    from gapnet.cv.runfolder import write_predictions
    from gapnet.cv.submission import (
        decide,
        predict_test,
        run_thresholds,
        submission_rows,
        write_submission,
    )
    from gapnet.data.source import open_source

    out = args.out or "submission.csv"
    ids, probs = predict_test(
        args.run,
        args.data,
        args.tta,
        args.batch_size,
        parts=out + ".parts",
        progress=True,
        skip_bad=args.skip_bad,
    )
    thresholds = run_thresholds(args.run)
    every = open_source(args.data, "test").labels.ids  # sample_submission.csv's order
    labels, dropped = submission_rows(every, ids, decide(probs, thresholds, args.empty))
    write_submission(out, every, labels)
    prob_path = args.probabilities or os.path.splitext(out)[0] + "_probabilities.csv"
    write_predictions(prob_path, ids, probs)
    empty = sum(not row for row in decide(probs, thresholds, "none"))
    print(
        f"{out}: {len(ids)} samples predicted ({empty} with no class above threshold: "
        f"{'top class' if args.empty == 'top' else 'left empty'})"
        + (
            f"; {len(dropped)} dropped for bad files, left empty: {', '.join(dropped)}"
            if dropped
            else ""
        )
        + f"; probabilities in {prob_path}"
    )
    return 0


def own_images(args) -> int:
    from gapnet.channels import parse_channel_map
    from gapnet.export.apply import (
        input_channels,
        model_of_run,
        no_pixel_size_note,
        predict_images,
        run_channel_set,
        run_pixel_size,
        write_image_predictions,
    )

    channels = [c.strip().lower() for c in args.channels.split(",")] if args.channels else None
    out = args.out or "predictions.csv"
    if args.model:
        from gapnet.export.zoo_predict import load_package, predict_package_images

        zoo = load_package(args.model)
        try:
            given = parse_channel_map(args.channel_map) if args.channel_map else None
        except ValueError as e:
            raise DataError(f"--channel-map: {e}") from None
        if zoo.pixel_size is None:
            print(no_pixel_size_note(zoo.size, args.pixel_size), file=sys.stderr)
        names, probs, labels = predict_package_images(
            zoo,
            args.images,
            channels,
            args.empty,
            given,
            log=lambda m: print(m, file=sys.stderr),
            given_um=args.pixel_size,
            batch_size=args.batch_size or 16,
        )
        write_image_predictions(out, names, probs, labels)
        print(f"{out}: {len(names)} images (zoo package, {zoo.weight_format} weights)")
        return 0
    if args.preset:
        from gapnet.export.preset import load_preset

        preset = load_preset(args.preset)
        model, thresholds, trained = preset.model, preset.thresholds, preset.channel_set
        run_um = preset.pixel_size
    else:
        model, thresholds = model_of_run(args.run)
        trained = run_channel_set(args.run)
        run_um = run_pixel_size(args.run)
    try:
        given = parse_channel_map(args.channel_map) if args.channel_map else None
    except ValueError as e:
        raise DataError(f"--channel-map: {e}") from None
    cs = input_channels(trained, given)
    if given and set(given.values()) - set(cs.roles):
        print(
            f"note: --channel-map roles {sorted(set(given.values()) - set(cs.roles))} are not "
            f"the model's ({cs.describe()}): those files are dropped",
            file=sys.stderr,
        )
    channels = [c.strip() for c in args.channels.split(",")] if args.channels else None
    if run_um is None:
        print(no_pixel_size_note(model.input_shape[1], args.pixel_size), file=sys.stderr)
    names, probs, labels = predict_images(
        model,
        thresholds,
        args.images,
        channels,
        args.batch_size or 16,
        args.empty,
        cs,
        log=lambda m: print(m, file=sys.stderr),
        run_um=run_um,
        given_um=args.pixel_size,
    )
    write_image_predictions(out, names, probs, labels)
    print(f"{out}: {len(names)} images")
    return 0


def single_cell(args) -> int:
    from gapnet.single_cell.predict import field_ids, predict_submission

    if args.data:
        from gapnet.data.validate import check_or_raise, validate

        report = validate(args.data, "test", 512, progress=False)
        hint = "Fix or remove the bad files (--skip-bad is for --format hpa2018)."
        ids = check_or_raise(report, skip_bad=False, log=lambda *a: None, hint=hint)
        src = report.source
        image_dir, ext = src.image_dir, src.ext
    else:
        image_dir, ext = args.images, "png"
        ids = field_ids(image_dir, ext)
    out = args.out or "submission.csv"
    from gapnet.workers import available_cores

    rows = predict_submission(
        args.run,
        image_dir,
        ids,
        out,
        args.cells,
        ext,
        log=lambda *a: print(*a, file=sys.stderr),
        workers=args.workers or available_cores(),
    )
    n = sum(r[3] for r in rows)
    print(f"{out}: {len(rows)} fields, {n} (cell, label) predictions")
    return 0


def main(argv=None) -> int:
    args = parse(argv)
    from gapnet.export.model_source import check_model, synthetic_model_note

    try:
        check_model(args.run, args.preset, args.model, single_cell=args.format == "hpa2021")
    except RunError as e:  # before TensorFlow loads: a mistyped folder is told at once
        print(f"error: {e}", file=sys.stderr)
        return 1
    note = synthetic_model_note(args.run, args.preset, args.model)
    if note:
        print(note, file=sys.stderr, flush=True)
    quiet_tensorflow()  # after parsing: --help never waits for TensorFlow
    try:
        if args.format == "hpa2021":
            return single_cell(args)
        return test_set(args) if args.data else own_images(args)
    except (DataError, RunError, ImageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:  # a zoo package gapnet cannot use (PackageError)
        if not args.model:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
