"""A finished run as a BioImage Model Zoo package (bioimage.io model spec 0.5), the format
the zoo, bioimageio.core, ilastik, deepImageJ and napari plugins read.

    export_bioimageio(RUN, "PKG.zip")   ->  PKG.zip holding rdf.yaml and:

    model.keras           weights "keras_v3" (the fold-average model, `gapnet.export.preset`)
    model.onnx            weights "onnx" (parent keras_v3; tf2onnx)
    saved_model.zip       weights "tensorflow_saved_model_bundle" (parent keras_v3)
    test_input.npy        one real HPA field (packaged, `gapnet/resources/hpa_field`) at the
                          model's size, uint8 (1, S, S, 4): batch, y, x, channel
    test_output.npy       the fold-average model's probabilities of it, float32 (1, C)
    thresholds.json       per-class thresholds, the rule and the decision (an attachment)
    preset.json           the preset's metadata (an attachment)
    README.md             the model card (`gapnet.export.card`) as the documentation
    cover.png             the field with the top class's localization map

Input `image`: axes batch, y, x, channel (red, green, blue, yellow: microtubules, the
protein, nucleus, ER), uint8 0..255; pre-processing `ensure_dtype` float32 only (the model
scales pixels itself). Output `probabilities`: axes batch, class (the scheme's class names),
float32 0..1. Which weights bioimageio.core runs: see docs/export.md.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import numpy as np

from gapnet.classes import CHANNELS

CHANNEL_ROLES = {
    "red": "microtubules",
    "green": "the protein",
    "blue": "nucleus",
    "yellow": "endoplasmic reticulum",
}
FIELD_ID = "000a6c98-bb9b-11e8-b2b9-ac1f6b6435d0"  # a real HPA 2021 field, 512 px
WEIGHTS = ("keras_v3", "onnx", "tensorflow_saved_model_bundle")
CITATIONS = (
    (
        "Rumetshofer E, Hofmarcher M, Röhrl C, Hochreiter S, Klambauer G. Human-level protein "
        "localization with convolutional neural networks. ICLR 2019 (GapNet-PL).",
        "https://openreview.net/forum?id=ryl5khRcKm",
    ),
    (
        "Ouyang W, Winsnes CF, Hjelmare M, et al. Analysis of the Human Protein Atlas Image "
        "Classification competition. Nature Methods 16, 1254-1261 (2019).",
        "10.1038/s41592-019-0658-6",
    ),
    (
        "Le T, Winsnes CF, Axelsson U, et al. Analysis of the Human Protein Atlas Weakly "
        "Supervised Single-Cell Classification competition. Nature Methods 19, 1221-1229 (2022).",
        "10.1038/s41592-022-01606-z",
    ),
)


# the five student reports gapnet implements (docs/background.md); the spec's `cite` needs
# a DOI or URL, which they lack, so they go in config.gapnet.seed_reports
SEED_REPORTS = (
    "seed 000: Zhao and Tang (Stanford), Predicting Protein Organelle Localization with "
    "Transfer Learning (report); seed 001: its poster",
    "seed 002: Madeira and Parreira (Tsinghua), Protein Localization from High-Resolution "
    "Microscopy using Deep Neural Networks (GapNet)",
    "seed 003: a poster comparing GapNet with Xception transfer learning",
    "seed 004: a report on ResNet34 and DenseNet121",
)


def field_path(color: str) -> str:
    """The packaged real HPA field's `color` channel (512 px PNG)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(here, "resources", "hpa_field", f"{FIELD_ID}_{color}.png")


def test_field(size: int) -> np.ndarray:
    """The packaged real HPA field as uint8 (size, size, 4), read as `predict.py --images`
    reads a user's image (`gapnet.data.microscope.read_image`)."""
    from gapnet.data.microscope import read_image

    return read_image({c: field_path(c) for c in CHANNELS}, size)


def _cover(path: str, model_dir: str, image: np.ndarray, probs: np.ndarray, names) -> None:
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
    rgb = image[..., [CHANNELS.index(c) for c in ("red", "green", "blue")]].astype(np.float32)
    rgb[..., 0] = np.maximum(rgb[..., 0], image[..., CHANNELS.index("yellow")])
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), dpi=100)
    axes[0].imshow(rgb / 255.0)
    axes[0].set_title("HPA field (red/yellow, green, blue)", fontsize=9)
    axes[1].imshow(image[..., CHANNELS.index("green")], cmap="gray")
    axes[1].imshow(np.mean(maps, 0), cmap="magma", alpha=0.6)
    axes[1].set_title(f"map of {names[top]} (p = {probs[top]:.2f})", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _describe(work: str, meta: dict, size: int, opset: int, formats) -> object:
    """The ModelDescr (bioimageio.spec 0.5) of the files in `work`."""
    import keras
    import tensorflow as tf
    from bioimageio.spec.model.v0_5 import (
        Author,
        AxisId,
        BatchAxis,
        ChannelAxis,
        CiteEntry,
        Doi,
        EnsureDtypeDescr,
        EnsureDtypeKwargs,
        FileDescr,
        HttpUrl,
        InputTensorDescr,
        IntervalOrRatioDataDescr,
        KerasV3WeightsDescr,
        LicenseId,
        ModelDescr,
        OnnxWeightsDescr,
        OutputTensorDescr,
        SpaceInputAxis,
        TensorflowSavedModelBundleWeightsDescr,
        TensorId,
        WeightsDescr,
    )

    def f(name):
        return os.path.join(work, name)

    synthetic = bool(meta.get("trained_on_synthetic"))
    names = list(meta["class_names"])
    project = [Author(name="the gapnet project")]
    image = InputTensorDescr(
        id=TensorId("image"),
        description=f"4-channel HPA field at {size} px, 8-bit values 0..255 (not 0..1: the "
        "model scales them)",
        axes=[
            BatchAxis(),
            SpaceInputAxis(id=AxisId("y"), size=size),
            SpaceInputAxis(id=AxisId("x"), size=size),
            ChannelAxis(
                channel_names=list(CHANNELS),
                description="; ".join(f"{c}: {CHANNEL_ROLES[c]}" for c in CHANNELS),
            ),
        ],
        data=IntervalOrRatioDataDescr(type="uint8", range=(0, 255)),
        test_tensor=FileDescr(source=f("test_input.npy")),
        preprocessing=[EnsureDtypeDescr(kwargs=EnsureDtypeKwargs(dtype="float32"))],
    )
    probs = OutputTensorDescr(
        id=TensorId("probabilities"),
        description=f"{meta['scheme']} class probabilities; class k is called when p_k > "
        "thresholds[k] (thresholds.json)",
        axes=[BatchAxis(), ChannelAxis(channel_names=names)],
        data=IntervalOrRatioDataDescr(type="float32", range=(0, 1)),
        test_tensor=FileDescr(source=f("test_output.npy")),
    )
    tf_version = tf.__version__.split("-")[0]
    entries = {}
    if "keras_v3" in formats:
        entries["keras_v3"] = KerasV3WeightsDescr(
            source=f("model.keras"),
            keras_version=keras.__version__,
            backend=("tensorflow", tf_version),
            comment="the fold-average Keras model; loading it needs gapnet's layers "
            "registered (import gapnet.models.layers)",
        )
    if "onnx" in formats:
        entries["onnx"] = OnnxWeightsDescr(
            source=f("model.onnx"),
            opset_version=opset,
            parent="keras_v3" if "keras_v3" in formats else None,
            comment="Keras export through tf2onnx (Normalization as weights)",
        )
    if "tensorflow_saved_model_bundle" in formats:
        entries["tensorflow_saved_model_bundle"] = TensorflowSavedModelBundleWeightsDescr(
            source=f("saved_model.zip"),
            tensorflow_version=tf_version,
            parent="keras_v3" if "keras_v3" in formats else None,
            comment="TF2 SavedModel (Keras ExportArchive; endpoint `serve` returns a dict)",
        )
    data_note = (
        "Trained on SYNTHETIC images (gapnet's synthetic atlas): its outputs for real HPA "
        "images mean nothing; a demonstration package."
        if synthetic
        else "Trained on HPA images (the run's data folder)."
    )
    return ModelDescr(
        name=f"gapnet {meta['scheme']} classifier",
        description=f"HPA protein subcellular localization: {len(names)}-class multi-label "
        f"probabilities of a 4-channel field (gapnet, {meta['n_folds']} fold models "
        f"averaged). Channels: "
        + "; ".join(f"{c} = {CHANNEL_ROLES[c]}" for c in CHANNELS)
        + f". {data_note}",
        authors=project,
        packaged_by=project,
        cite=[
            CiteEntry(text=t, doi=Doi(ref))
            if ref.startswith("10.")
            else CiteEntry(text=t, url=HttpUrl(ref))
            for t, ref in CITATIONS
        ],
        license=LicenseId("MIT"),
        documentation=FileDescr(source=f("README.md")),
        covers=[FileDescr(source=f("cover.png"))],
        attachments=[FileDescr(source=f("thresholds.json")), FileDescr(source=f("preset.json"))],
        tags=[
            "protein localization",
            "fluorescence-light-microscopy",
            "classification",
            "human protein atlas",
            "2d",
            "tensorflow",
            "keras",
            "onnx",
        ]
        + (["synthetic training data"] if synthetic else []),
        inputs=[image],
        outputs=[probs],
        weights=WeightsDescr(**entries),
        config={
            "gapnet": {
                "scheme": meta["scheme"],
                "class_names": names,
                "thresholds": meta["thresholds"],
                "decision": meta["decision"],
                "threshold_rule": meta["threshold_rule"],
                "trained_on_synthetic": synthetic,
                "training_data": data_note,
                "seed_reports": list(SEED_REPORTS),
            }
        },
    )


def _saved_model_zip(model, size: int, path: str) -> None:
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
        input_signature=[tf.TensorSpec((None, size, size, len(CHANNELS)), tf.float32)],
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
            _saved_model_zip(preset.model, size, os.path.join(work, "saved_model.zip"))
        x = test_field(size)[None]
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
        _cover(os.path.join(work, "cover.png"), run, x[0], y[0], meta["class_names"])
        descr = _describe(work, meta, size, opset, formats)
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
    from bioimageio.core import test_model
    from bioimageio.spec import load_model_description

    from gapnet.models import layers  # noqa: F401  (registers gapnet's Keras layers)

    path = os.path.abspath(path)
    descr = load_model_description(path)
    formats = formats or [k for k, v in descr.weights.available_formats.items() if v]
    out, here = {}, os.getcwd()
    # bioimageio.core unzips TensorFlow weights into ./bioimageio_unzipped_tf_weights
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            for fmt in formats:
                summary = test_model(path, weight_format=fmt)
                errors = [f"{d.name}: {e.msg}" for d in summary.details for e in (d.errors or [])]
                out[fmt] = (summary.status == "passed", errors[0] if errors else "")
        finally:
            os.chdir(here)
    return out
