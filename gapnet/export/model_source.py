"""The model a prediction names: a finished run folder, a preset folder
(`gapnet.export.preset`) or a BioImage Model Zoo package (`gapnet.export.zoo_predict`).
`check_model` tells a missing or unfinished one at once, before TensorFlow loads;
`synthetic_model_note` is the line to print when that model was trained on synthetic data
(`gapnet.cv.runread.synthetic_note`), so its labels for real images are not taken at face
value. Used by experiments/predict.py; cheap, no TensorFlow.
"""

from __future__ import annotations

import os

from gapnet.cv.runfolder import RunError


def check_model(
    run: str | None = None,
    preset: str | None = None,
    package: str | None = None,
    single_cell: bool = False,
) -> None:
    """The run, preset or zoo package exists and is finished (RunError naming it otherwise);
    `single_cell`: `run` is a single-cell run folder or a plain run (only its existence is
    checked)."""
    from gapnet.cv.runread import require_finished

    if package:
        if not os.path.isfile(package):
            raise RunError(f"{package}: no such zoo package (a .zip file)")
    elif preset:
        if not os.path.isfile(os.path.join(preset, "preset.json")):
            raise RunError(f"{preset}: not a preset folder (no preset.json)")
    elif single_cell:  # a single-cell run folder, or a plain run
        if not os.path.isdir(run):
            raise RunError(f"{run}: no such run folder")
    else:
        require_finished(run)


def synthetic_model_note(
    run: str | None = None, preset: str | None = None, package: str | None = None
) -> str | None:
    """The note for a model trained on synthetic data (None otherwise): a zoo package's
    thresholds.json says, a preset's preset.json (an older preset: its config's data), a
    run's records, a single-cell run folder's image model's run (`image_run/`)."""
    from gapnet.cv.runread import synthetic_note, trained_on_synthetic
    from gapnet.io import read_json

    if package:
        import json
        import zipfile

        try:
            with zipfile.ZipFile(package) as z:
                meta = json.loads(z.read("thresholds.json"))
        except (KeyError, zipfile.BadZipFile, OSError, ValueError):
            return None  # load_package names what is wrong
        return synthetic_note(package) if meta.get("trained_on_synthetic") else None
    if preset:
        meta = read_json(os.path.join(preset, "preset.json"))
        if "trained_on_synthetic" in meta:
            return synthetic_note(preset) if meta["trained_on_synthetic"] else None
        cfg = os.path.join(preset, "config.json")  # a preset older than the key
        data = read_json(cfg).get("data") if os.path.isfile(cfg) else "unknown"
        return None if data else synthetic_note(preset)
    if os.path.isfile(os.path.join(run, "config.json")):
        return synthetic_note(run) if trained_on_synthetic(run) else None
    image_run = os.path.join(run, "image_run")  # a single-cell run folder: its image
    if os.path.isfile(os.path.join(image_run, "config.json")):  # model's run says
        return synthetic_note(run) if trained_on_synthetic(image_run) else None
    return None
