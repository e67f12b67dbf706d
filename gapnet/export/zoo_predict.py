"""Predicting a user's images with a BioImage Model Zoo package through bioimageio.core
(`predict.py --model PKG.zip --images DIR`).

The package must take what gapnet's packages take (`gapnet.export.bioimageio`): one input
with axes batch, y, x, channel whose channel names are gapnet's colours (red, green, blue,
yellow, in any order, or a subset with green: a run's own channel set), and one output of
per-class probabilities (batch, channel). Its thresholds come from the `thresholds.json`
attachment. Other packages are refused with a message saying why; only gapnet's own
packages have been run through this path.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass

import numpy as np

from gapnet.classes import CHANNELS


class PackageError(ValueError):
    """A zoo package this path cannot use (named, with the reason)."""


@dataclass
class ZooModel:
    pipeline: object  # a bioimageio.core PredictionPipeline
    input_id: str
    output_id: str
    size: int
    channel_order: tuple  # the input's channel names, in its order
    class_names: tuple
    thresholds: np.ndarray
    weight_format: str
    pixel_size: float | None = None  # µm/px the run trained at (its preset.json), or None

    @property
    def channel_set(self):
        """The package's channels as a `gapnet.channels.ChannelSet` (canonical order)."""
        from gapnet.channels import ChannelSet

        canon = tuple(c for c in CHANNELS if c in self.channel_order)
        return ChannelSet(canon, canon)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(n, classes) float32 of uint8 images (n, size, size, C) in the order of
        `channel_set` (the package's roles in gapnet's canonical order)."""
        from gapnet.export.zoo_env import keras_backend_kept

        with keras_backend_kept():
            from bioimageio.core import predict
        canon = self.channel_set.roles
        order = [canon.index(c) for c in self.channel_order]
        out = []
        for image in images:
            sample = predict(model=self.pipeline, inputs={self.input_id: image[None][..., order]})
            out.append(np.asarray(sample.members[self.output_id].data, np.float32).reshape(-1))
        return np.stack(out)


def _axes(tensor) -> list[str]:
    return [str(a.type) for a in tensor.axes]


def load_package(path: str, weight_format: str | None = None) -> ZooModel:
    """A gapnet-layout zoo package ready to predict (`weight_format`: "onnx" first when
    the package has it and onnxruntime imports, else bioimageio.core's choice)."""
    from bioimageio.spec import InvalidDescr, load_model_description

    from gapnet.export.zoo_env import keras_backend_kept

    with keras_backend_kept():
        from bioimageio.core import create_prediction_pipeline

    try:
        descr = load_model_description(path)
    except Exception as e:  # bioimageio raises several kinds for a missing / bad file
        raise PackageError(f"{path}: not a readable bioimage.io model package ({e})") from None
    if isinstance(descr, InvalidDescr):
        raise PackageError(f"{path}: not a valid bioimage.io model package")
    if len(descr.inputs) != 1 or len(descr.outputs) != 1:
        raise PackageError(f"{path}: gapnet predicts with one input and one output tensor")
    ipt, opt = descr.inputs[0], descr.outputs[0]
    if _axes(ipt) != ["batch", "space", "space", "channel"] or _axes(opt) != ["batch", "channel"]:
        raise PackageError(
            f"{path}: axes {_axes(ipt)} -> {_axes(opt)}; gapnet reads packages that take "
            "(batch, y, x, channel) images and give (batch, class) probabilities"
        )
    names = tuple(str(n).lower() for n in ipt.axes[3].channel_names)
    if not set(names) <= set(CHANNELS) or len(set(names)) != len(names) or "green" not in names:
        raise PackageError(
            f"{path}: input channels {list(names)}, not a set of gapnet's {CHANNELS} with green"
        )
    sizes = (
        {int(ipt.axes[1].size), int(ipt.axes[2].size)}
        if all(isinstance(ipt.axes[i].size, int) for i in (1, 2))
        else set()
    )
    if len(sizes) != 1:
        raise PackageError(f"{path}: gapnet reads packages with one fixed square input size")
    classes = tuple(str(n) for n in opt.axes[1].channel_names)
    try:
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read("thresholds.json"))
            names_in = set(z.namelist())
            preset = json.loads(z.read("preset.json")) if "preset.json" in names_in else {}
    except (KeyError, zipfile.BadZipFile, OSError, ValueError):
        raise PackageError(
            f"{path}: no thresholds.json attachment (not a gapnet package)"
        ) from None
    thresholds = np.asarray(meta["thresholds"], np.float32)
    if len(thresholds) != len(classes):
        raise PackageError(f"{path}: {len(thresholds)} thresholds for {len(classes)} classes")
    if weight_format is None:
        have = set(descr.weights.available_formats)
        weight_format = "onnx" if "onnx" in have and _onnxruntime() else None
    with keras_backend_kept():
        pipeline = create_prediction_pipeline(descr, weight_format=weight_format)
    return ZooModel(
        pipeline,
        str(ipt.id),
        str(opt.id),
        sizes.pop(),
        names,
        classes,
        thresholds,
        weight_format or "bioimageio.core's default",
        preset.get("pixel_size"),
    )


def _onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def predict_package_images(
    zoo: ZooModel,
    path: str,
    channels=None,
    empty: str = "top",
    channel_map=None,
    log=None,
    given_um: float | None = None,
    batch_size: int = 16,
):
    """(names, probabilities (n, classes), label lists) of every image at `path`, read as
    `gapnet.export.apply.predict_images` reads them (image by image, a batch of images
    held at a time), in the files a user's `channel_map` (file name -> role, as
    `--channel-map`) gives the package's channels. A package whose run recorded its pixel
    size (preset.json's `pixel_size`) gets each image resampled to it first from its own
    (its file's, else `given_um`, `--pixel-size`), as `predict.py --run` does; at most
    about `batch_size` windows are held and predicted at a time.

    Raises:
        DataError: some files cannot be used, or the map lacks a channel the package
            takes; the message lists every one.
    """
    from gapnet.data.microscope import input_channels
    from gapnet.export.apply import predict_images

    cs = input_channels(zoo.channel_set, channel_map)
    return predict_images(
        _AsKerasModel(zoo),
        zoo.thresholds,
        path,
        channels,
        batch_size,
        empty,
        cs,
        log=log,
        run_um=zoo.pixel_size,
        given_um=given_um,
    )


class _AsKerasModel:
    """The two things `predict_images` asks of a model: `input_shape` and `predict`."""

    def __init__(self, zoo: ZooModel):
        self.zoo = zoo
        self.input_shape = (None, zoo.size, zoo.size, len(zoo.channel_set))

    def predict(self, x, batch_size=None, verbose=0):
        return self.zoo.probabilities(x)
