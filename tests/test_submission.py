"""experiments/predict.py: fold-averaged test predictions and the Kaggle submission."""

import os
import shutil

import keras
import numpy as np
import pytest

from gapnet.cv.runfolder import RunError, read_predictions
from gapnet.cv.submission import decide


def test_decide_applies_thresholds_and_the_top_class_rule():
    probs = np.array([[0.9, 0.2, 0.6], [0.1, 0.3, 0.2], [0.1, 0.1, 0.1]], np.float32)
    thr = [0.5, 0.4, 0.7]
    assert decide(probs, thr) == [[0], [1], [0]]  # rows 2 and 3 fall back to their argmax
    assert decide(probs, thr, "none") == [[0], [], []]


@pytest.fixture()
def test_root(tiny_data, tmp_path):
    """A test split: 6 samples in shuffled order, copied from the tiny training data."""
    root = tmp_path / "kaggle"
    (root / "test").mkdir(parents=True)
    ids = ["t5", "t0", "t3", "t1", "t4", "t2"]
    train = sorted(
        f for f in os.listdir(os.path.join(tiny_data, "train")) if f.endswith("_red.png")
    )
    for n, i in enumerate(ids):
        for color in ("red", "green", "blue", "yellow"):
            src = os.path.join(tiny_data, "train", train[n].replace("_red", f"_{color}"))
            shutil.copy(src, root / "test" / f"{i}_{color}.png")
    (root / "sample_submission.csv").write_text("Id,Predicted\n" + "".join(f"{i},0\n" for i in ids))
    return root, ids


@pytest.mark.slow  # default-suite time (docs/development.md)
def test_submission_averages_folds_in_sample_submission_order(tiny_run, test_root, tmp_path):
    from experiments.predict import main
    from gapnet.cv.submission import run_thresholds
    from gapnet.data.pipeline import PngReader
    from gapnet.training.predict import predict

    run, _ = tiny_run
    root, ids = test_root
    out = tmp_path / "sub.csv"
    assert main(["--run", run, "--data", str(root), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "Id,Predicted" and [r.split(",")[0] for r in lines[1:]] == ids
    assert all(r.split(",")[1].strip() for r in lines[1:])  # never empty (top-class rule)
    got_ids, probs = read_predictions(str(tmp_path / "sub_probabilities.csv"))
    reader = PngReader(str(root / "test"), "png", ids, 48)
    expected = np.mean(
        [
            predict(
                keras.saving.load_model(os.path.join(run, f"fold_{k}", "model.keras")),
                reader,
                np.arange(6),
                8,
            )
            for k in range(3)
        ],
        axis=0,
    )
    assert got_ids == ids
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    assert [r.split(",")[1] for r in lines[1:]] == [
        " ".join(map(str, row)) for row in decide(expected, run_thresholds(run))
    ]


def test_a_model_of_synthetic_data_says_so_before_labelling_images(
    tiny_run, test_root, tmp_path, capsys
):
    from experiments.predict import main

    run, _ = tiny_run  # trained on a make_synthetic.py folder
    root, ids = test_root
    out = tmp_path / "p.csv"
    assert main(["--run", run, "--images", str(root / "test"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"note: {run} was trained on SYNTHETIC data" in err
    assert len(out.read_text().splitlines()) == 1 + len(ids)


@pytest.mark.parametrize("synthetic", [True, False])
def test_a_single_cell_run_of_synthetic_data_says_so(tmp_path, synthetic):
    from gapnet.export.model_source import synthetic_model_note

    run = tmp_path / "sc_run"  # run_single_cell.py's folder: the image model in image_run/
    (run / "image_run").mkdir(parents=True)
    (run / "single_cell.json").write_text("{}")
    (run / "image_run" / "config.json").write_text("{}")
    (run / "image_run" / "data.json").write_text(f'{{"synthetic": {str(synthetic).lower()}}}')
    said = synthetic_model_note(run=str(run))
    assert (said is not None) == synthetic
    assert not synthetic or f"note: {run} was trained on SYNTHETIC data" in said


def test_bad_test_images_are_reported_not_dropped(tiny_run, test_root, tmp_path, capsys):
    from experiments.predict import main

    run, _ = tiny_run
    root, _ = test_root
    os.remove(root / "test" / "t3_green.png")
    (root / "test" / "t1_blue.png").write_bytes(b"not a png")
    assert main(["--run", run, "--data", str(root), "--out", str(tmp_path / "s.csv")]) == 1
    err = capsys.readouterr().err
    assert "t3_green.png" in err and "t1_blue.png" in err
    assert "6 rows, 4 usable samples" in err  # t3 and t1 are not usable
    assert "--skip-bad" in err
    assert not (tmp_path / "s.csv").exists()


def test_skip_bad_leaves_the_dropped_samples_rows_empty(tiny_run, test_root, tmp_path, capsys):
    """What the message above offers: --skip-bad predicts the good samples; the dropped
    ones keep their submission rows (sample_submission.csv's order), empty, and are named."""
    from experiments.predict import main

    run, _ = tiny_run
    root, ids = test_root
    os.remove(root / "test" / "t3_green.png")
    (root / "test" / "t1_blue.png").write_bytes(b"not a png")
    out = tmp_path / "s.csv"
    assert main(["--run", run, "--data", str(root), "--out", str(out), "--skip-bad"]) == 0
    rows = dict(line.split(",") for line in out.read_text().splitlines()[1:])
    assert list(rows) == ids
    assert rows["t3"] == rows["t1"] == ""
    assert all(rows[i].strip() for i in ids if i not in ("t3", "t1"))
    got_ids, _ = read_predictions(str(tmp_path / "s_probabilities.csv"))
    assert got_ids == ["t5", "t0", "t4", "t2"]
    said, err = capsys.readouterr()
    assert "4 samples predicted" in said and "2 dropped for bad files, left empty: t3, t1" in said
    # the progress counts one prediction per sample and fold model, and says so (it read
    # "(12/12 sample)" for 4 samples)
    assert "predicting test (4 samples x 3 fold models): 100% (12/12 prediction)" in err, err


def test_an_unfinished_run_cannot_predict(tiny_run, test_root, tmp_path):
    from gapnet.cv.submission import fold_models

    run = shutil.copytree(tiny_run[0], tmp_path / "run")
    os.remove(os.path.join(run, "fold_2", "done.json"))
    with pytest.raises(RunError, match=r"folds \[2\] have not finished"):
        fold_models(str(run))


def test_fold_models_load_in_safe_mode(tiny_run, test_root, tmp_path):
    """A fold model carrying a Python lambda (arbitrary code) is refused, not executed."""
    from gapnet.cv.runfolder import mark_done
    from gapnet.cv.submission import predict_test

    run = str(shutil.copytree(tiny_run[0], tmp_path / "run"))
    inputs = keras.Input((48, 48, 4))
    evil = keras.Model(inputs, keras.layers.Lambda(lambda x: x[:, 0, 0, :1] * 0 + 0.5)(inputs))
    evil.save(os.path.join(run, "fold_1", "model.keras"))
    mark_done(os.path.join(run, "fold_1"), ("model.keras", "history.csv", "val_predictions.csv"), 1)
    with pytest.raises(ValueError, match="safe_mode"):
        predict_test(run, str(test_root[0]), log=lambda *a: None)


@pytest.mark.slow  # suite time (4 s); the 2021 parts' resume stays fast
def test_a_killed_prediction_continues_from_its_parts_and_foreign_parts_are_refused(
    tiny_run, test_root, tmp_path, monkeypatch
):
    import gapnet.cv.submission as sub

    run = str(shutil.copytree(tiny_run[0], tmp_path / "run"))  # its models are touched
    root, ids = test_root
    monkeypatch.setattr(sub, "PART", 4)  # 6 samples: two parts per fold
    parts = str(tmp_path / "sub.parts")
    got_ids, full = sub.predict_test(run, str(root), parts=parts, log=lambda *a: None)
    names = sorted(f for f in os.listdir(parts) if f.endswith(".npy"))
    assert names == [f"fold{k}-{b:05d}.npy" for k in range(3) for b in range(2)]
    # a kill after fold 0's first part: the rest is predicted, the kept part is reused
    for name in names[1:]:
        os.remove(os.path.join(parts, name))
    kept = np.load(os.path.join(parts, names[0]))
    np.save(os.path.join(parts, names[0]), kept + 3.0)  # marked: a reused part shows
    import gapnet.training.predict as tp

    calls, real = [], tp.predict
    monkeypatch.setattr(
        tp, "predict", lambda m, r, rows, *a: calls.append(rows) or real(m, r, rows, *a)
    )
    _, again = sub.predict_test(run, str(root), parts=parts, log=lambda *a: None)
    assert len(calls) == 5 and sorted(os.listdir(parts)) == sorted(names + ["manifest.json"])
    np.testing.assert_allclose(again[:4], full[:4] + 1.0, atol=1e-6)  # 3.0 / 3 folds
    np.testing.assert_allclose(again[4:], full[4:], atol=1e-6)
    # a kill mid-write leaves a temporary file: removed, never counted as a part
    (tmp_path / "sub.parts" / ".tmp-abc-fold0-00000.npy").write_bytes(b"junk")
    said = []
    sub.predict_test(run, str(root), parts=parts, log=said.append)
    assert "6 parts of 6 kept from an earlier run" in said
    assert not [f for f in os.listdir(parts) if f.startswith(".tmp-")] and len(calls) == 5
    stray = tmp_path / "stray.parts"
    stray.mkdir()
    np.save(stray / "fold0-00000.npy", kept)
    with pytest.raises(RunError, match="unknown origin"):
        sub.predict_test(run, str(root), parts=str(stray), log=lambda *a: None)


@pytest.mark.slow  # six more predictions of three fold models
def test_parts_of_another_tta_model_or_image_are_predicted_afresh(
    tiny_run, test_root, tmp_path, monkeypatch
):
    import gapnet.cv.submission as sub
    import gapnet.training.predict as tp

    run = str(shutil.copytree(tiny_run[0], tmp_path / "run"))  # its models are touched
    root, ids = test_root
    monkeypatch.setattr(sub, "PART", 4)
    parts = str(tmp_path / "sub.parts")
    sub.predict_test(run, str(root), parts=parts, log=lambda *a: None)
    calls, real, said = [], tp.predict, []
    monkeypatch.setattr(
        tp, "predict", lambda m, r, rows, *a: calls.append(rows) or real(m, r, rows, *a)
    )
    # other TTA, a retrained fold model or an edited test image: predicted afresh
    _, flipped = sub.predict_test(run, str(root), tta="flips", parts=parts, log=said.append)
    assert any("other tta: predicting afresh" in m for m in said) and len(calls) == 6
    os.utime(os.path.join(run, "fold_1", "model.keras"))
    said.clear()
    sub.predict_test(run, str(root), tta="flips", parts=parts, log=said.append)
    assert any("other fold_models: predicting afresh" in m for m in said) and len(calls) == 12
    png = root / "test" / f"{ids[0]}_green.png"
    os.utime(png, (1, 1))
    said.clear()
    _, again = sub.predict_test(run, str(root), tta="flips", parts=parts, log=said.append)
    assert any("other images: predicting afresh" in m for m in said) and len(calls) == 18
    np.testing.assert_allclose(again, flipped, atol=1e-6)
