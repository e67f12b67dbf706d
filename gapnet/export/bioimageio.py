"""A finished run as a BioImage Model Zoo package (bioimage.io model spec 0.5), the format
the zoo, bioimageio.core, ilastik, deepImageJ and napari plugins read.

    export_bioimageio(RUN, "PKG.zip")   ->  PKG.zip holding rdf.yaml and:

    model.keras           weights "keras_v3" (the fold-average model, `gapnet.export.preset`)
    model.onnx            weights "onnx" (parent keras_v3; tf2onnx)
    saved_model.zip       weights "tensorflow_saved_model_bundle" (parent keras_v3)
    test_input.npy        one real HPA field (packaged, `gapnet/resources/hpa_field`) at the
                          model's size, uint8 (1, S, S, C): batch, y, x, channel (the
                          run's channel set: its C roles)
    test_output.npy       the fold-average model's probabilities of it, float32 (1, C)
    thresholds.json       per-class thresholds, the rule and the decision (an attachment)
    preset.json           the preset's metadata (an attachment)
    README.md             the model card (`gapnet.export.card`) as the documentation
    cover.png             the field with the top class's localization map

Input `image`: axes batch, y, x, channel (the run's channel set, named by role: red, green,
blue, yellow = microtubules, the protein, nucleus, ER, or a subset such as green, blue;
your files' own names in the description and config.gapnet.channel_names), uint8 0..255;
pre-processing `ensure_dtype` float32 only (the model scales pixels itself). Output
`probabilities`: axes batch, class (the scheme's class names), float32 0..1.
Which weights bioimageio.core runs: see docs/export.md.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import numpy as np

from gapnet.classes import CHANNELS
from gapnet.export.zoo_rdf import describe

FIELD_ID = "000a6c98-bb9b-11e8-b2b9-ac1f6b6435d0"  # a real HPA 2021 field, 512 px
WEIGHTS = ("keras_v3", "onnx", "tensorflow_saved_model_bundle")


def field_path(color: str) -> str:
    """The packaged real HPA field's `color` channel (512 px PNG)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(here, "resources", "hpa_field", f"{FIELD_ID}_{color}.png")


def test_field(size: int, roles=CHANNELS) -> np.ndarray:
    """The packaged real HPA field as uint8 (size, size, C): its channels of `roles` (a
    run's channel set, in its order), read as `predict.py --images` reads a user's image
    (`gapnet.data.microscope.read_image`)."""
    from gapnet.channels import ChannelSet
    from gapnet.data.microscope import read_image

    roles = tuple(roles)
    return read_image(
        {c: field_path(c) for c in CHANNELS}, size, channel_set=ChannelSet(roles, roles)
    )


def _cover(
    path: str, model_dir: str, image: np.ndarray, probs: np.ndarray, names, roles=CHANNELS
) -> None:
    """cover.png (2:1): the field in false colour, and the top class's map over it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gapnet.cv.submission import fold_models
    from gapnet.explain.maps import class_maps
    from gapnet.training.predict import load_model

    top = int(np.argmax(probs))
    maps = [
        class_maps(load_model(p, compile=False), image[None], [top])[0, 0]
        for p in fold_models(model_dir)
    ]
    roles = list(roles)
    rgb = np.zeros(image.shape[:2] + (3,), np.float32)
    for k, c in enumerate(("red", "green", "blue")):
        if c in roles:
            rgb[..., k] = image[..., roles.index(c)]
    if "yellow" in roles:
        rgb[..., 0] = np.maximum(rgb[..., 0], image[..., roles.index("yellow")])
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), dpi=100)
    axes[0].imshow(rgb / 255.0)
    axes[0].set_title("HPA field (red/yellow, green, blue)", fontsize=9)
    axes[1].imshow(image[..., roles.index("green")], cmap="gray")
    axes[1].imshow(np.mean(maps, 0), cmap="magma", alpha=0.6)
    axes[1].set_title(f"map of {names[top]} (p = {probs[top]:.2f})", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _saved_model_zip(model, size: int, path: str, n_channels: int = len(CHANNELS)) -> None:
    """A TF2 SavedModel of `model` zipped at `path`, whose `serve` endpoint returns
    {"probabilities": ...}: bioimageio.core's TensorFlow backend (keras TFSMLayer) wants a
    dict (Keras's own export returns the bare tensor)."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serve",
        fn=lambda x: {"probabilities": model(x, training=False)},
        input_signature=[tf.TensorSpec((None, size, size, n_channels), tf.float32)],
    )
    with tempfile.TemporaryDirectory() as tmp:
        archive.write_out(os.path.join(tmp, "saved_model"), verbose=False)
        shutil.make_archive(os.path.splitext(path)[0], "zip", os.path.join(tmp, "saved_model"))


def export_bioimageio(run: str, out: str, formats=WEIGHTS, log=print) -> dict:
    """Writes finished run `run` as the zoo package `out` (a .zip); returns what it holds:
    {"path", "bytes", "weights", "test_output"}. The test output is the fold-average Keras
    model's probabilities of the packaged real field (at the model's input size)."""
    from bioimageio.spec import save_bioimageio_package

    from gapnet.export.preset import export_run, load_preset
    from gapnet.io import read_json

    unknown = set(formats) - set(WEIGHTS)
    if unknown or "keras_v3" not in formats:
        raise ValueError(f"weights {sorted(formats)}: choose keras_v3 and any of {WEIGHTS}")
    if not out.lower().endswith(".zip"):
        raise ValueError(f"{out}: a zoo package is a .zip file")
    with tempfile.TemporaryDirectory() as work:
        preset_dir = os.path.join(work, "preset")
        export_run(run, preset_dir, ["onnx"] if "onnx" in formats else [], log=log)
        meta = read_json(os.path.join(preset_dir, "preset.json"))
        for name in ("model.keras", "README.md", "preset.json"):
            shutil.copyfile(os.path.join(preset_dir, name), os.path.join(work, name))
        opset = 0
        if "onnx" in formats:
            import onnx

            shutil.copyfile(
                os.path.join(preset_dir, "model.onnx"), os.path.join(work, "model.onnx")
            )
            model_onnx = onnx.load(os.path.join(work, "model.onnx"), load_external_data=False)
            opset = max(o.version for o in model_onnx.opset_import if o.domain in ("", "ai.onnx"))
        preset = load_preset(preset_dir)
        size = preset.image_size
        if "tensorflow_saved_model_bundle" in formats:
            _saved_model_zip(
                preset.model, size, os.path.join(work, "saved_model.zip"), len(preset.channels)
            )
        x = test_field(size, preset.channels)[None]
        y = np.asarray(preset.model.predict(x, verbose=0), np.float32)
        np.save(os.path.join(work, "test_input.npy"), x)
        np.save(os.path.join(work, "test_output.npy"), y)
        with open(os.path.join(work, "thresholds.json"), "w") as fh:
            json.dump(
                {
                    k: meta[k]
                    for k in (
                        "scheme",
                        "class_names",
                        "thresholds",
                        "decision",
                        "threshold_rule",
                        "trained_on_synthetic",
                    )
                },
                fh,
                indent=1,
            )
        _cover(
            os.path.join(work, "cover.png"), run, x[0], y[0], meta["class_names"], preset.channels
        )
        descr = describe(work, meta, size, opset, formats)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        save_bioimageio_package(descr, output_path=os.path.abspath(out))
    log(
        f"wrote the zoo package {out} ({os.path.getsize(out) / 1e6:.1f} MB; weights: "
        f"{', '.join(formats)})"
    )
    return {
        "path": out,
        "bytes": os.path.getsize(out),
        "weights": list(formats),
        "test_output": y[0].tolist(),
    }


def test_package(path: str, formats=None) -> dict:
    """{weights format: (passed, the first error or "")} of bioimageio.core's test of the
    package (its format check and its test input against its test output, at the spec's
    tolerance) for each weights format the package has (or `formats`)."""
    from bioimageio.spec import load_model_description

    from gapnet.export.zoo_env import keras_backend_kept
    from gapnet.models import layers  # noqa: F401  (registers gapnet's Keras layers)

    path = os.path.abspath(path)
    descr = load_model_description(path)
    formats = formats or [k for k, v in descr.weights.available_formats.items() if v]
    out, here = {}, os.getcwd()
    # bioimageio.core unzips TensorFlow weights into ./bioimageio_unzipped_tf_weights
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            with keras_backend_kept():
                from bioimageio.core import test_model

                for fmt in formats:
                    summary = test_model(path, weight_format=fmt)
                    errors = [f"{d.name}: {e.msg}" for d in summary.details for e in d.errors or []]
                    out[fmt] = (summary.status == "passed", errors[0] if errors else "")
        finally:
            os.chdir(here)
    return out
