"""Exports a finished run as one model that averages its folds, with a model card.

    python experiments/export.py --run RUN --out DIR [--format savedmodel|onnx|both|keras]

DIR gets model.keras, preset.json (thresholds, class names, channel order, image size),
config.json, README.md (the model card), and saved_model/ and/or model.onnx. Load it with
`gapnet.export.preset.load_preset(DIR)`, or serve the SavedModel / ONNX file without gapnet.
"""

import argparse
import sys

from gapnet.quiet import quiet_tensorflow

FORMATS = {
    "savedmodel": ("savedmodel",),
    "onnx": ("onnx",),
    "both": ("savedmodel", "onnx"),
    "keras": (),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a finished run folder (run_kfold.py --out)")
    p.add_argument("--out", required=True, help="the preset folder to write")
    p.add_argument(
        "--format",
        choices=sorted(FORMATS),
        default="both",
        help="exports beside model.keras (default both: SavedModel and ONNX)",
    )
    args = p.parse_args(argv)
    from gapnet.cv.runfolder import RunError
    from gapnet.cv.runread import require_finished

    try:
        require_finished(args.run)  # before TensorFlow loads
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    quiet_tensorflow()  # after parsing: --help never waits for TensorFlow
    from gapnet.export.preset import export_run

    try:
        export_run(args.run, args.out, FORMATS[args.format])
    except (RunError, RuntimeError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
