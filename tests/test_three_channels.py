"""A three-channel run from the command line, end to end: train (run_kfold.py --set
channels=green,blue,red), predict and explain a user's images (predict.py / explain.py
--images, the fourth file dropped), export a preset with ONNX (export.py) and predict with
it: the same probabilities as the run's."""

import csv
import glob
import json
import os
import runpy
import shutil

import numpy as np
import pytest


def _main(script):
    return runpy.run_path(script, run_name=os.path.basename(script))["main"]


def _probs(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return [r[0] for r in rows[1:]], np.array([[float(v) for v in r[3:]] for r in rows[1:]])


# trains 2 folds of a tiny model, then predicts, explains, exports (~2 min on a 2-core CPU)
@pytest.mark.slow
def test_a_three_channel_run_trains_predicts_explains_and_exports(tiny_data, tmp_path, capsys):
    run, cfg = tmp_path / "run", tmp_path / "tiny.json"
    cfg.write_text(
        json.dumps({"model_kwargs": {"widths": [8, 16, 16], "dense": [32, 32]}, "verbose": 0})
    )
    argv = ["--data", tiny_data, "--folds", "2", "--epochs", "1", "--image-size", "48"]
    argv += ["--batch-size", "8", "--config", str(cfg), "--out", str(run)]
    assert _main("experiments/run_kfold.py")(argv + ["--set", "channels=green,blue,red"]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert sorted(saved["channels"]) == ["blue", "green", "red"]
    images = tmp_path / "images"  # a user's four-channel files: yellow is not the model's
    images.mkdir()
    for f in sorted(glob.glob(os.path.join(tiny_data, "**", "*_*.png"), recursive=True))[:8]:
        shutil.copy(f, images)
    capsys.readouterr()
    predict = _main("experiments/predict.py")
    assert (
        predict(["--run", str(run), "--images", str(images), "--out", str(tmp_path / "p.csv")]) == 0
    )
    assert "yellow dropped: the model uses red, green, blue" in capsys.readouterr().err
    names, by_run = _probs(tmp_path / "p.csv")
    assert len(names) == 2 and by_run.shape == (2, 28)
    out = tmp_path / "explain"
    assert (
        _main("experiments/explain.py")(
            ["--run", str(run), "--images", str(images), "--out", str(out)]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(summary["samples"]) == sorted(names)
    np.testing.assert_allclose([summary["probabilities"][n] for n in names], by_run, atol=1e-4)
    preset = tmp_path / "preset"
    assert (
        _main("experiments/export.py")(
            ["--run", str(run), "--out", str(preset), "--format", "onnx"]
        )
        == 0
    )
    meta = json.loads((preset / "preset.json").read_text())
    assert meta["channels"] == ["red", "green", "blue"] and (preset / "model.onnx").is_file()
    assert (
        predict(
            ["--preset", str(preset), "--images", str(images), "--out", str(tmp_path / "q.csv")]
        )
        == 0
    )
    np.testing.assert_allclose(_probs(tmp_path / "q.csv")[1], by_run, atol=1e-5)
    import onnxruntime as ort

    from gapnet.data.microscope import find_images, read_image
    from gapnet.export.preset import load_preset

    cs = load_preset(str(preset)).channel_set
    x = np.stack([read_image(s, 48, channel_set=cs) for _, s in find_images(str(images))])
    sess = ort.InferenceSession(str(preset / "model.onnx"))
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})
    np.testing.assert_allclose(y, by_run, atol=1e-4)
