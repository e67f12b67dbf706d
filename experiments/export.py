"""Exports a finished run as one model that averages its folds, with a model card.

    python experiments/export.py --run RUN --out DIR [--format savedmodel|onnx|both|keras]
    python experiments/export.py --run RUN --format bioimageio --out PKG.zip [--test]

DIR gets model.keras, preset.json (thresholds, class names, channel order, image size),
config.json, README.md (the model card), and saved_model/ and/or model.onnx. Load it with
`gapnet.export.preset.load_preset(DIR)`, or serve the SavedModel / ONNX file without gapnet.

--format bioimageio writes a BioImage Model Zoo package (bioimage.io spec 0.5; pip install -e
".[bioimageio]"): weights keras_v3, onnx and tensorflow_saved_model_bundle, a real HPA field
as its test input, thresholds.json, the model card and a cover (docs/export.md); --test then
runs bioimageio.core's test of each weights format. Predict with it: predict.py --model.
"""

import argparse
import sys

from gapnet.quiet import quiet_tensorflow

FORMATS = {
    "savedmodel": ("savedmodel",),
    "onnx": ("onnx",),
    "both": ("savedmodel", "onnx"),
    "keras": (),
    "bioimageio": (),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a finished run folder (run_kfold.py --out)")
    p.add_argument("--out", required=True, help="the preset folder to write")
    p.add_argument(
        "--format",
        choices=sorted(FORMATS),
        default="both",
        help="exports beside model.keras (default both: SavedModel and ONNX); bioimageio: "
        "a BioImage Model Zoo package (--out PKG.zip)",
    )
    p.add_argument(
        "--test",
        action="store_true",
        help="bioimageio: run bioimageio.core's test of each weights format afterwards",
    )
    args = p.parse_args(argv)
    if args.format == "bioimageio" and not args.out.lower().endswith(".zip"):
        p.error("--format bioimageio writes a .zip package: --out PKG.zip")
    if args.test and args.format != "bioimageio":
        p.error("--test goes with --format bioimageio")
    from gapnet.cv.runfolder import RunError
    from gapnet.cv.runread import run_problem

    problem = run_problem(args.run)  # before TensorFlow loads
    if problem:
        print(problem, file=sys.stderr)
        return 1
    quiet_tensorflow()  # after parsing: --help never waits for TensorFlow
    if args.format == "bioimageio":
        return zoo_package(args)
    from gapnet.export.preset import export_run

    try:
        export_run(args.run, args.out, FORMATS[args.format])
    except (RunError, RuntimeError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def zoo_package(args) -> int:
    from gapnet.cv.runfolder import RunError

    try:
        from gapnet.export.bioimageio import export_bioimageio, test_package

        export_bioimageio(args.run, args.out)
    except ImportError as e:
        print(f"error: {e}; pip install -e '.[bioimageio]'", file=sys.stderr)
        return 1
    except (RunError, RuntimeError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not args.test:
        return 0
    results = test_package(args.out)
    for fmt, (ok, error) in results.items():
        print(f"bioimageio.core test, {fmt} weights: {'passed' if ok else 'FAILED ' + error}")
    return 0 if all(ok for ok, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
