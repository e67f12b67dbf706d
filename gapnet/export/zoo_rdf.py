"""The description (rdf.yaml) of a gapnet BioImage Model Zoo package as bioimageio.spec 0.5
objects: inputs and outputs with their axes, channel and class names and data range, the
weights and their parents, citations, licence, authors and attachments
(`gapnet.export.bioimageio` writes the files it describes)."""

from __future__ import annotations

import os

from gapnet.classes import CHANNELS

CHANNEL_ROLES = {
    "red": "microtubules",
    "green": "the protein",
    "blue": "nucleus",
    "yellow": "endoplasmic reticulum",
}
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


def describe(work: str, meta: dict, size: int, opset: int, formats) -> object:
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
    # the run's own channel set: its roles (model input order) and the files' names
    roles = list(meta.get("channels") or CHANNELS)
    files = list(meta.get("channel_names") or roles)
    channels_said = "; ".join(
        f"{r} = {CHANNEL_ROLES[r]}" + (f" (your files' {f})" if f != r else "")
        for r, f in zip(roles, files, strict=True)
    )
    project = [Author(name="the gapnet project")]
    image = InputTensorDescr(
        id=TensorId("image"),
        description=f"{len(roles)}-channel field at {size} px, 8-bit values 0..255 (not "
        "0..1: the model scales them)",
        axes=[
            BatchAxis(),
            SpaceInputAxis(id=AxisId("y"), size=size),
            SpaceInputAxis(id=AxisId("x"), size=size),
            ChannelAxis(channel_names=roles, description=channels_said),
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
        f"probabilities of a {len(roles)}-channel field (gapnet, {meta['n_folds']} fold "
        f"models averaged). Channels: {channels_said}. {data_note}",
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
                "channels": roles,
                "channel_names": files,
                "thresholds": meta["thresholds"],
                "decision": meta["decision"],
                "threshold_rule": meta["threshold_rule"],
                "trained_on_synthetic": synthetic,
                "training_data": data_note,
                "seed_reports": list(SEED_REPORTS),
            }
        },
    )
