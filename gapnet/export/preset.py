"""A preset folder: a finished run's fold models as one model, ready to use without the run.

    DIR/model.keras       the fold-average Keras model (`gapnet.export.ensemble`)
    DIR/preset.json       class names, channel order (roles, and the file channel names
                          they were trained from), image size, `input` (shape, dtype,
                          `value_range` [0, 255]: 8-bit values, not 0..1),
                          thresholds and their rule, `trained_on_synthetic`
    DIR/config.json       the run's Config (to rebuild or retrain it; data, folds_file: names)
    DIR/README.md         the model card (`gapnet.export.card`)
    DIR/saved_model/      TensorFlow SavedModel (Keras export; endpoint `serve`)
    DIR/model.onnx        ONNX (Keras export through tf2onnx), when the converter is installed

`load_preset(DIR)` returns the Keras model and its thresholds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from gapnet.cv.runread import trained_on_synthetic
from gapnet.cv.submission import fold_models
from gapnet.export.apply import model_of_run, run_channel_set
from gapnet.export.card import model_card
from gapnet.io import atomic_write_json, atomic_write_text, read_json
from gapnet.schemes import scheme_of_width
from gapnet.training.predict import load_model

FORMATS = ("savedmodel", "onnx")


@dataclass(frozen=True)
class Preset:
    """A loaded preset: the model, its per-class thresholds and what its input must be."""

    model: object
    thresholds: np.ndarray
    class_names: tuple
    channels: tuple
    image_size: int
    channel_names: tuple = ()  # the file channel name of each role (default: the roles)
    pixel_size: float | None = None  # µm/px at image_size the run was trained at; None: unknown

    @property
    def channel_set(self):
        """The `gapnet.channels.ChannelSet` its input must be read in."""
        from gapnet.channels import ChannelSet

        return ChannelSet(tuple(self.channels), tuple(self.channel_names or self.channels))


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError:
        return False
    return True


def export_run(run: str, out: str, formats=FORMATS, log=print) -> str:
    """Writes the preset folder of finished run `run` into `out`; returns `out`."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown export format(s) {sorted(unknown)}; choose from {FORMATS}")
    if "onnx" in formats and not onnx_available():
        raise RuntimeError(
            "ONNX export needs tf2onnx and onnxruntime "
            "(pip install -e '.[onnx]'); or --format savedmodel"
        )
    cfg, metrics = (
        read_json(os.path.join(run, "config.json")),
        read_json(os.path.join(run, "metrics.json")),
    )
    thresholds = read_json(os.path.join(run, "thresholds.json"))["thresholds"]
    model, _ = model_of_run(run)
    cs = run_channel_set(run)
    n_folds = len(fold_models(run))
    size = model.input_shape[1]
    model.predict(np.zeros((1, size, size, len(cs)), np.float32), verbose=0)  # built
    os.makedirs(out, exist_ok=True)
    model.save(os.path.join(out, "model.keras"))
    atomic_write_json(
        os.path.join(out, "preset.json"),
        {
            "scheme": scheme_of_width(len(thresholds)).name,
            "class_names": list(scheme_of_width(len(thresholds)).classes),
            "channels": list(cs.roles),
            "channel_names": list(cs.names),
            "image_size": size,
            "pixel_size": cfg.get("pixel_size"),
            "pixel_size_note": "µm per pixel of the input as the model was trained on it (at "
            "image_size); predict.py resamples a user's image to it first; null: unknown, "
            "images are resized to image_size whatever their µm/px",
            "input": {
                "shape": [None, size, size, len(cs)],
                "dtype": model.inputs[0].dtype,
                "value_range": [0, 255],
                "description": "8-bit pixel values as the PNGs hold them (uint8, or float "
                "0..255: the model scales them itself; do not divide by 255), channels in "
                "the order of `channels`",
            },
            "thresholds": thresholds,
            "decision": "class k is called when p_k > thresholds[k] (strictly; p == t is not)",
            "threshold_rule": f"{cfg.get('threshold_strategy')}, tuned on all out-of-fold "
            "predictions of the run",
            "n_folds": n_folds,
            "run": os.path.basename(os.path.abspath(run)),  # its name: a preset is shared
            "trained_on_synthetic": trained_on_synthetic(run),
        },
    )
    shared = {  # a preset is shared: the data folder and folds file by name, not path
        k: (os.path.basename(str(v).rstrip("/\\")) or v) if k in ("data", "folds_file") and v else v
        for k, v in cfg.items()
    }
    atomic_write_json(os.path.join(out, "config.json"), shared)
    atomic_write_text(os.path.join(out, "README.md"), model_card(cfg, metrics, thresholds, n_folds))
    if "savedmodel" in formats:
        model.export(os.path.join(out, "saved_model"), format="tf_saved_model", verbose=False)
    if "onnx" in formats:
        from gapnet.export.ensemble import with_weight_normalization

        portable = with_weight_normalization(model)
        portable.predict(np.zeros((1, size, size, len(cs)), np.float32), verbose=0)
        portable.export(os.path.join(out, "model.onnx"), format="onnx", verbose=False)
    log(f"exported {n_folds} fold models of {run} to {out} ({', '.join(formats) or 'keras'})")
    return out


def load_preset(path: str) -> Preset:
    """The preset folder's Keras model with its thresholds, class names, channel order
    and image size (a preset's own class names declared: `gapnet.schemes.own_scheme`)."""
    meta = read_json(os.path.join(path, "preset.json"))
    if meta.get("scheme") == "own":
        from gapnet.schemes import own_scheme

        own_scheme(meta["class_names"])
    model = load_model(os.path.join(path, "model.keras"), compile=False)
    return Preset(
        model,
        np.asarray(meta["thresholds"], np.float32),
        tuple(meta["class_names"]),
        tuple(meta["channels"]),
        int(meta["image_size"]),
        tuple(meta.get("channel_names") or meta["channels"]),
        meta.get("pixel_size"),  # absent from presets older than the key: unknown
    )
