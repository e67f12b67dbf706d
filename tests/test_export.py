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
    them), read at the run's size as the training pipeline reads them."""
    from gapnet.classes import CHANNELS
    from gapnet.data.images import read_channel

    pngs = real_pngs()
    return (
        np.stack(
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
        ).astype(np.float32)  # 0..255, as the models take them (not divided by 255)
    )


ATOL = 1e-5


def _max_diff(model, x, reference):
    return float(np.abs(model.predict(x, verbose=0) - reference).max())


@pytest.mark.slow  # suite time; the preset's predictions are checked fast below
def test_preset_json_states_the_input_the_model_takes(tiny_run, exported, images):
    """Inputs built from preset.json alone (dtype, value range, channel order) give the
    model's predictions on the real 8-bit images."""
    from gapnet.classes import CHANNELS

    meta = json.load(open(os.path.join(exported, "preset.json")))
    spec = meta["input"]
    assert spec["value_range"] == [0, 255] and spec["shape"][1:] == [48, 48, 4]
    assert meta["channels"] == list(CHANNELS)
    assert "p_k > thresholds[k]" in meta["decision"]  # the rule the thresholds were tuned for
    raw = images.astype(np.uint8)  # the files' bytes, in CHANNELS order
    lo, hi = spec["value_range"]
    x = (lo + raw.astype(np.float64) * (hi - lo) / 255).astype(spec["dtype"])
    expected = _fold_average(tiny_run[0], raw)
    np.testing.assert_allclose(_fold_average(tiny_run[0], x), expected, atol=ATOL)


def _fold_average(run, x):
    from gapnet.cv.submission import fold_models
    from gapnet.training.predict import load_model

    return np.mean([load_model(p).predict(x, verbose=0) for p in fold_models(run)], 0)


@pytest.mark.slow  # default-suite time (docs/development.md)
def test_the_preset_equals_the_average_of_the_fold_models(tiny_run, exported, images):
    from gapnet.classes import CHANNELS
    from gapnet.export.preset import load_preset

    preset = load_preset(exported)
    expected = _fold_average(tiny_run[0], images)
    got = preset.model.predict(images, verbose=0)
    np.testing.assert_allclose(got, expected, atol=ATOL)
    # The tolerance is one a wrong input breaks: swapped channels or pixels divided by 255
    # move the probabilities by far more than ATOL.
    assert _max_diff(preset.model, images[..., ::-1], got) > 20 * ATOL
    assert _max_diff(preset.model, images / 255, got) > 20 * ATOL
    thr = json.load(open(os.path.join(tiny_run[0], "thresholds.json")))["thresholds"]
    np.testing.assert_allclose(preset.thresholds, thr)
    assert preset.channels == CHANNELS and preset.image_size == 48


@pytest.mark.slow
def test_savedmodel_serves_the_same_probabilities_without_gapnet(tiny_run, served, images):
    import tensorflow as tf

    loaded = tf.saved_model.load(os.path.join(served, "saved_model"))
    served = loaded.serve(images).numpy()
    np.testing.assert_allclose(served, _fold_average(tiny_run[0], images), atol=ATOL)
    assert float(np.abs(loaded.serve(images[..., ::-1]).numpy() - served).max()) > 20 * ATOL


@pytest.mark.slow
def test_onnx_gives_the_same_probabilities(tiny_run, served, images):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(os.path.join(served, "model.onnx"))
    out = session.run(None, {session.get_inputs()[0].name: images})[0]
    np.testing.assert_allclose(out, _fold_average(tiny_run[0], images), atol=ATOL)
    swapped = session.run(None, {session.get_inputs()[0].name: images[..., ::-1].copy()})[0]
    assert float(np.abs(swapped - out).max()) > 20 * ATOL


def test_the_model_card_says_what_the_model_is_and_how_good(tiny_run, exported):
    card = open(os.path.join(exported, "README.md")).read()
    m = tiny_run[1]
    assert "3-fold average" in card and "`red`, `green`, `blue`, `yellow`" in card
    assert f"**{m['macro_f1']:.3f}**" in card and "cross-fitted" in card
    assert "| 27 | Rods & rings |" in card and "CC BY-SA 3.0" in card
    assert os.path.isfile(os.path.join(exported, "config.json"))
    # a preset is shared: it names its run folder, not this machine's path to it
    meta = json.load(open(os.path.join(exported, "preset.json")))
    assert meta["run"] == os.path.basename(tiny_run[0].rstrip(os.sep))
    # and so does its config.json: the data folder's name, not this machine's path to it
    shared = json.load(open(os.path.join(exported, "config.json")))
    run_cfg = json.load(open(os.path.join(tiny_run[0], "config.json")))
    assert os.path.isabs(run_cfg["data"]) and shared["data"] == os.path.basename(run_cfg["data"])
    assert {k: v for k, v in shared.items() if k != "data"} == {
        k: v for k, v in run_cfg.items() if k != "data"
    }


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


@pytest.mark.slow  # suite time; 16-bit TIFF reading is tested fast in test_microscope
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
    assert rows[0].startswith("Id,labels,label_names,0,1") and len(rows) == 4
    np.testing.assert_allclose([float(v) for v in rows[1].split(",")[3:]], from_png[0], rtol=1e-6)
    capsys.readouterr()
    assert main(["--run", tiny_run[0], "--images", str(tmp_path / "tiff")]) == 1
    err = capsys.readouterr().err
    assert "field0.tif: which channel is which is unknown" in err and "--channels" in err
