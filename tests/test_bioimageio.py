"""A run as a BioImage Model Zoo package (`export.py --format bioimageio`): it validates
against the bioimage.io spec 0.5, bioimageio.core's test passes for its weights, and
`predict.py --model PKG.zip` predicts what `predict.py --run RUN` predicts."""

import csv
import os
import runpy
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

pytest.importorskip("bioimageio.core")  # the [bioimageio] extra (in dev: CI runs these)

from gapnet.classes import CHANNELS  # noqa: E402

FIELD = os.path.join(os.path.dirname(__file__), "..", "gapnet", "resources", "hpa_field")
JPG = os.path.join(os.path.dirname(__file__), "data", "hpav18_jpg")


def _main(script):
    return runpy.run_path(f"experiments/{script}.py", run_name=script)["main"]


@pytest.fixture(scope="module")
def package(tiny_run, tmp_path_factory):
    run, _ = tiny_run
    out = str(tmp_path_factory.mktemp("zoo") / "gapnet.zip")
    assert _main("export")(["--run", run, "--format", "bioimageio", "--out", out]) == 0
    return run, out


@pytest.fixture
def images(tmp_path):
    """Two real HPA fields: the packaged 2021 field (512 px PNG) and the HPAv18 JPEG."""
    folder = tmp_path / "images"
    folder.mkdir()
    for src in (FIELD, JPG):
        for f in os.listdir(src):
            if f.endswith((".png", ".jpg")):
                shutil.copy(os.path.join(src, f), folder / f)
    return str(folder)


@pytest.mark.slow
def test_package_validates_and_bioimageio_core_tests_every_weights_format(package):
    from bioimageio.spec import InvalidDescr, load_model_description

    from gapnet.export.bioimageio import test_package

    run, path = package
    descr = load_model_description(path)  # the spec's validation
    assert not isinstance(descr, InvalidDescr)
    assert str(descr.format_version).startswith("0.5")
    before = os.environ.get("KERAS_BACKEND")
    results = test_package(path)
    # bioimageio.core sets KERAS_BACKEND=torch when it loads Keras weights; every process
    # started afterwards (k-fold workers, notebook kernels) would then fail at import keras
    assert os.environ.get("KERAS_BACKEND") == before
    child = [sys.executable, "-c", "import keras; print(keras.backend.backend())"]
    assert subprocess.run(child, capture_output=True, text=True).stdout.strip() == "tensorflow"
    assert set(results) == {"keras_v3", "onnx", "tensorflow_saved_model_bundle"}
    assert all(ok for ok, _ in results.values()), results


@pytest.mark.slow
def test_package_describes_inputs_outputs_thresholds_and_provenance(package):
    import json

    from bioimageio.spec import load_model_description

    from gapnet.io import read_json

    run, path = package
    descr = load_model_description(path)
    ipt, opt = descr.inputs[0], descr.outputs[0]
    assert [a.type for a in ipt.axes] == ["batch", "space", "space", "channel"]
    assert list(ipt.axes[3].channel_names) == list(CHANNELS)
    assert tuple(ipt.data.range) == (0, 255) and ipt.data.type == "uint8"
    thresholds = read_json(os.path.join(run, "thresholds.json"))["thresholds"]
    assert len(opt.axes[1].channel_names) == len(thresholds)
    assert opt.axes[1].channel_names[0] == "Nucleoplasm"
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        attached = json.loads(z.read("thresholds.json"))
        x = np.load(z.open("test_input.npy"))
    assert {"README.md", "cover.png", "model.onnx", "model.keras", "saved_model.zip"} <= names
    np.testing.assert_allclose(attached["thresholds"], thresholds)
    assert attached["trained_on_synthetic"] is True  # tiny_run trains on synthetic data
    assert "SYNTHETIC" in descr.description
    assert x.dtype == np.uint8 and x.shape[-1] == 4 and x.std() > 5  # a real field, not zeros
    assert str(descr.license) == "MIT"
    assert any("GapNet-PL" in c.text for c in descr.cite)


@pytest.mark.slow
def test_predict_with_the_package_equals_predict_with_the_run(package, images, tmp_path):
    run, path = package
    by_run, by_pkg = str(tmp_path / "run.csv"), str(tmp_path / "pkg.csv")
    assert _main("predict")(["--run", run, "--images", images, "--out", by_run]) == 0
    before = os.environ.get("KERAS_BACKEND")
    assert _main("predict")(["--model", path, "--images", images, "--out", by_pkg]) == 0
    assert os.environ.get("KERAS_BACKEND") == before
    a, b = (list(csv.DictReader(open(p))) for p in (by_run, by_pkg))
    assert [r["Id"] for r in a] == [r["Id"] for r in b] and len(a) == 2
    pa = np.array([[float(r[str(k)]) for k in range(28)] for r in a])
    pb = np.array([[float(r[str(k)]) for k in range(28)] for r in b])
    np.testing.assert_allclose(pb, pa, atol=1e-5)  # ONNX through bioimageio.core vs Keras
    assert [r["labels"] for r in a] == [r["labels"] for r in b]
    # the user's own file names through --channel-map give the same predictions
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    mine = {"red": "MT", "green": "GFP", "blue": "DAPI", "yellow": "ER"}
    for f in os.listdir(images):
        stem, ext = os.path.splitext(f)
        sample, colour = stem.rsplit("_", 1)
        shutil.copy(os.path.join(images, f), renamed / f"{sample}_{mine[colour]}{ext}")
    by_map = str(tmp_path / "map.csv")
    cmap = ",".join(f"{n}={c}" for c, n in mine.items())
    args = ["--model", path, "--images", str(renamed), "--channel-map", cmap, "--out", by_map]
    assert _main("predict")(args) == 0
    c = list(csv.DictReader(open(by_map)))
    assert [r["Id"] for r in c] == [r["Id"] for r in a]
    pc = np.array([[float(r[str(k)]) for k in range(28)] for r in c])
    np.testing.assert_allclose(pc, pb, atol=1e-6)


def test_predict_refuses_a_file_that_is_not_a_package(tmp_path, images, capsys):
    bad = tmp_path / "not_a_model.zip"
    bad.write_bytes(b"not a zip")
    rc = _main("predict")(["--model", str(bad), "--images", images])
    err = capsys.readouterr().err
    assert rc == 1
    assert "not_a_model.zip" in err and "Traceback" not in err


def test_export_bioimageio_needs_a_zip_path(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _main("export")(["--run", str(tmp_path), "--format", "bioimageio", "--out", "folder"])
    assert "PKG.zip" in capsys.readouterr().err


@pytest.mark.slow
def test_a_two_channel_run_is_packaged_with_its_own_channels(tiny_data, tmp_path, images):
    """The package of a run on green and blue only: its input has those 2 channels (the
    packaged field's, 2 planes), it validates, bioimageio.core's test passes, and
    predict.py --model reads 2 channels of the images as predict.py --run does."""
    from bioimageio.spec import InvalidDescr, load_model_description

    from gapnet.config import Config
    from gapnet.cv.kfold import run_kfold
    from gapnet.export.bioimageio import export_bioimageio, test_package
    from tests.conftest import TINY

    run = str(tmp_path / "run")
    cfg = Config(data=tiny_data, **{**TINY, "folds": 2}).with_overrides(["channels=green,blue"])
    run_kfold(cfg, run, log=lambda *a: None)
    path = str(tmp_path / "two.zip")
    export_bioimageio(run, path, ("keras_v3", "onnx"), log=lambda *a: None)
    descr = load_model_description(path)
    assert not isinstance(descr, InvalidDescr)
    assert list(descr.inputs[0].axes[3].channel_names) == ["green", "blue"]
    assert "2-channel field" in descr.description and "yellow" not in descr.description
    import yaml

    with zipfile.ZipFile(path) as z:
        assert np.load(z.open("test_input.npy")).shape == (1, 48, 48, 2)
        rdf = yaml.safe_load(z.read("rdf.yaml"))
    assert rdf["config"]["gapnet"]["channels"] == ["green", "blue"]
    assert all(ok for ok, _ in test_package(path, ["onnx"]).values())
    by_run, by_pkg = str(tmp_path / "run.csv"), str(tmp_path / "pkg.csv")
    assert _main("predict")(["--run", run, "--images", images, "--out", by_run]) == 0
    assert _main("predict")(["--model", path, "--images", images, "--out", by_pkg]) == 0
    a, b = (list(csv.DictReader(open(p))) for p in (by_run, by_pkg))
    pa = np.array([[float(r[str(k)]) for k in range(28)] for r in a])
    pb = np.array([[float(r[str(k)]) for k in range(28)] for r in b])
    np.testing.assert_allclose(pb, pa, atol=1e-5)
