"""A run exported as one fold-average model: Keras preset, SavedModel and ONNX agree."""

import json
import os

import numpy as np
import pytest

from tests.conftest import real_pngs


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    """The Keras preset alone (the SavedModel and ONNX exports run in the slow suite)."""
    from gapnet.export.preset import export_run

    out = str(tmp_path_factory.mktemp("preset"))
    export_run(tiny_run[0], out, formats=(), log=lambda *a: None)
    return out


@pytest.fixture(scope="module")
def served(tiny_run, tmp_path_factory):
    """SavedModel and, where tf2onnx and onnxruntime are installed, ONNX."""
    from gapnet.export.preset import export_run, onnx_available

    out = str(tmp_path_factory.mktemp("served"))
    formats = ("savedmodel", "onnx") if onnx_available() else ("savedmodel",)
    export_run(tiny_run[0], out, formats, log=lambda *a: None)
    return out


@pytest.fixture(scope="module")
def images():
    """Six samples whose channels are real HPA PNGs (as the kaggle_root fixture builds
    them), read at the run's size as the training pipeline reads them: 8-bit values 0..255
    as float32, the input the models take (not 0..1)."""
    from gapnet.classes import CHANNELS
    from gapnet.data.images import read_channel

    pngs = real_pngs()
    return np.stack(
        [
            np.stack(
                [
                    read_channel(pngs[(s + c) % len(pngs)], color, 48)
                    for c, color in enumerate(CHANNELS)
                ],
                -1,
            )
            for s in range(6)
        ]
    ).astype(np.float32)


def _fold_average(run, x):
    from gapnet.cv.submission import fold_models
    from gapnet.training.predict import load_model

    return np.mean([load_model(p).predict(x, verbose=0) for p in fold_models(run)], 0)


ATOL = 1e-5


def _assert_wrong_inputs_break(model_fn, images, expected):
    """The equality tolerance means something: a channel swap or a missing 0..255 scale
    moves the outputs by far more than ATOL (on the tiny run by 3.4e-3 and 7.0e-3 at most,
    340x and 700x ATOL; on 0..1 inputs the swap moved them by only 1.9e-4), so an export
    that swapped channels or lost the 0..255 scaling fails."""
    swapped = model_fn(images[..., [1, 0, 2, 3]].copy())
    scaled = model_fn(images / 255)
    assert np.abs(swapped - expected).max() > 100 * ATOL
    assert np.abs(scaled - expected).max() > 100 * ATOL


def test_the_preset_equals_the_average_of_the_fold_models(tiny_run, exported, images):
    from gapnet.classes import CHANNELS
    from gapnet.export.preset import load_preset

    preset = load_preset(exported)
    expected = _fold_average(tiny_run[0], images)
    assert np.ptp(expected, 0).max() > 100 * ATOL  # the outputs differ between images
    got = preset.model.predict(images, verbose=0)
    np.testing.assert_allclose(got, expected, atol=ATOL)
    _assert_wrong_inputs_break(lambda x: preset.model.predict(x, verbose=0), images, expected)
    thr = json.load(open(os.path.join(tiny_run[0], "thresholds.json")))["thresholds"]
    np.testing.assert_allclose(preset.thresholds, thr)
    assert preset.channels == CHANNELS and preset.image_size == 48


@pytest.mark.slow
def test_savedmodel_serves_the_same_probabilities_without_gapnet(tiny_run, served, images):
    import tensorflow as tf

    loaded = tf.saved_model.load(os.path.join(served, "saved_model"))
    expected = _fold_average(tiny_run[0], images)
    np.testing.assert_allclose(loaded.serve(images).numpy(), expected, atol=ATOL)
    serve = lambda x: loaded.serve(x.astype(np.float32)).numpy()  # noqa: E731
    _assert_wrong_inputs_break(serve, images, expected)


@pytest.mark.slow
def test_onnx_gives_the_same_probabilities(tiny_run, served, images):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(os.path.join(served, "model.onnx"))
    name = session.get_inputs()[0].name
    expected = _fold_average(tiny_run[0], images)
    out = session.run(None, {name: images})[0]
    np.testing.assert_allclose(out, expected, atol=ATOL)
    _assert_wrong_inputs_break(
        lambda x: session.run(None, {name: x.astype(np.float32)})[0], images, expected
    )


def test_preset_json_states_the_input_the_model_takes(exported, images):
    """Inputs built from preset.json alone (its dtype and value range) give the model's
    predictions on the real 8-bit images; the old '0..1' text gave near-black inputs."""
    from gapnet.export.preset import load_preset

    meta = json.load(open(os.path.join(exported, "preset.json")))
    lo, hi = meta["input_range"]
    assert "0..255" in meta["input"] and "0..1," not in meta["input"]
    x = (images.astype(np.uint8) / 255.0 * (hi - lo) + lo).astype(meta["input_dtype"])
    model = load_preset(exported).model
    expected = model.predict(images.astype(np.uint8), verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=ATOL)


def test_the_model_card_says_what_the_model_is_and_how_good(tiny_run, exported):
    card = open(os.path.join(exported, "README.md")).read()
    m = tiny_run[1]
    assert "3-fold average" in card and "`red`, `green`, `blue`, `yellow`" in card
    assert f"**{m['macro_f1']:.3f}**" in card and "cross-fitted" in card
    assert "| 27 | Rods & rings |" in card and "CC BY-SA 3.0" in card
    assert os.path.isfile(os.path.join(exported, "config.json"))


def _write_user_images(tmp_path):
    """Three fields as per-channel PNGs, as 16-bit CYX TIFFs in another channel order,
    and as OME-TIFFs naming their channels."""
    import shutil

    import tifffile

    from gapnet.classes import CHANNELS
    from gapnet.data.images import read_channel

    pngs = real_pngs()
    order = ("blue", "green", "red", "yellow")  # file order of the plain TIFFs
    for d in ("png", "tiff", "ome"):
        (tmp_path / d).mkdir()
    for s in range(3):
        files = {c: pngs[(s + i) % len(pngs)] for i, c in enumerate(CHANNELS)}
        for c, f in files.items():
            shutil.copy(f, tmp_path / "png" / f"field{s}_{c}.png")
        planes = {c: read_channel(f, c).astype(np.uint16) * 257 for c, f in files.items()}
        tifffile.imwrite(
            tmp_path / "tiff" / f"field{s}.tif",
            np.stack([planes[c] for c in order]),
            photometric="minisblack",
            metadata={"axes": "CYX"},
        )
        tifffile.imwrite(
            tmp_path / "ome" / f"field{s}.ome.tif",
            np.stack([planes[c] for c in CHANNELS]),
            photometric="minisblack",
            ome=True,
            metadata={"axes": "CYX", "Channel": {"Name": list(CHANNELS)}},
        )
    return order


def test_own_16bit_tiffs_predict_as_the_same_pngs(tiny_run, tmp_path, capsys):
    import runpy

    from gapnet.export.apply import model_of_run, predict_images

    order = _write_user_images(tmp_path)
    model, thr = model_of_run(tiny_run[0])
    names, from_png, labels = predict_images(model, thr, str(tmp_path / "png"))
    _, from_tiff, _ = predict_images(model, thr, str(tmp_path / "tiff"), list(order))
    _, from_ome, _ = predict_images(model, thr, str(tmp_path / "ome"))
    assert names == ["field0", "field1", "field2"] and all(labels)
    np.testing.assert_allclose(from_tiff, from_png, atol=1e-6)
    np.testing.assert_allclose(from_ome, from_png, atol=1e-6)
    # The command line: the same probabilities in its CSV; a TIFF without channel names
    # is refused, naming the file.
    main = runpy.run_path("experiments/predict.py", run_name="predict")["main"]
    out = tmp_path / "p.csv"
    assert (
        main(
            [
                "--run",
                tiny_run[0],
                "--images",
                str(tmp_path / "tiff"),
                "--channels",
                ",".join(order),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = out.read_text().splitlines()
    assert rows[0].startswith("image,labels,label_names,0,1") and len(rows) == 4
    np.testing.assert_allclose([float(v) for v in rows[1].split(",")[3:]], from_png[0], rtol=1e-6)
    capsys.readouterr()
    assert main(["--run", tiny_run[0], "--images", str(tmp_path / "tiff")]) == 1
    err = capsys.readouterr().err
    assert "field0.tif: which channel is which is unknown" in err and "--channels" in err
