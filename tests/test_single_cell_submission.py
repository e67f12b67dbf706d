"""The HPA 2021 submission from a run (`predict.py --format hpa2021`): decoded back to its
masks and scores, a field whose mask changed predicted again, unfinished and 2018-scheme
runs refused."""

import os

import numpy as np
import pytest


@pytest.mark.slow  # default-suite time (docs/development.md)
def test_hpa2021_submission_from_a_run_decodes_to_its_masks_and_scores(
    tiny_run, tiny_data, tmp_path
):
    """predict.py --format hpa2021 with given masks: the CSV decodes back to the same
    cells, labels and confidences the run's models give; a killed run resumes."""
    import runpy

    from gapnet.data.images import read_sample
    from gapnet.segment import write_mask
    from gapnet.single_cell.submission import read_submission

    run, _ = tiny_run
    images = os.path.join(tiny_data, "train")
    ids = sorted(f[: -len("_green.png")] for f in os.listdir(images) if f.endswith("_green.png"))
    ids = ids[:3]
    fields = tmp_path / "fields"
    fields.mkdir()
    masks = tmp_path / "masks"
    masks.mkdir()
    m = np.zeros((48, 48), np.int32)
    m[1:20, 1:20], m[25:47, 5:30], m[5:15, 30:46] = 1, 2, 3
    for sid in ids:
        for c in ("red", "green", "blue", "yellow"):
            os.link(os.path.join(images, f"{sid}_{c}.png"), fields / f"{sid}_{c}.png")
        write_mask(str(masks / f"{sid}_cells.png"), m)
    out = str(tmp_path / "sub.csv")
    main = runpy.run_path("experiments/predict.py", run_name="predict")["main"]
    args = ["--run", run, "--images", str(fields), "--cells", str(masks), "--format", "hpa2021"]
    assert main(args + ["--out", out]) == 0
    sub = read_submission(out)
    assert sorted(sub) == ids
    # expected, without FieldScorer: the fold models averaged, mapped to the 2021 classes,
    # the field's probabilities given to each of its cells
    from gapnet.cv.submission import fold_models
    from gapnet.schemes import probabilities_to_hpa2021
    from gapnet.training.predict import load_model

    models = [load_model(p, compile=False) for p in fold_models(run)]
    for sid in ids:
        cells, scores = sub[sid]
        assert np.array_equal(cells, m)
        x = read_sample(str(fields), sid, 48)[None]
        p28 = np.mean([np.asarray(model(x, training=False))[0] for model in models], 0)
        want = np.repeat(probabilities_to_hpa2021(p28[None]), 3, 0)
        assert scores.shape == (3, 19)
        np.testing.assert_allclose(scores, want, rtol=1e-5)
    # killed after one field: its part is kept (a sentinel here: no cells, under the
    # print of its files), the rest is done on the next call
    parts = out + ".parts"
    os.remove(out)
    for sid in ids[1:]:
        os.remove(os.path.join(parts, f"{sid}.txt"))
    part0 = os.path.join(parts, f"{ids[0]}.txt")
    with open(part0, encoding="utf-8") as f:
        made = f.readline()
    with open(part0, "w", encoding="utf-8") as f:
        f.write(made + "48,48,\n")
    assert main(args + ["--out", out]) == 0
    again = read_submission(out)
    assert sorted(again) == ids and not again[ids[0]][0].any()  # the kept part, not redone
    assert np.array_equal(again[ids[1]][0], m)
    # parts made with other masks are refused, not mixed in
    other = tmp_path / "other_masks"
    other.mkdir()
    for sid in ids:
        write_mask(str(other / f"{sid}_cells.png"), m)
    args2 = ["--run", run, "--images", str(fields), "--cells", str(other), "--format", "hpa2021"]
    assert main(args2 + ["--out", out]) == 1


def test_a_submission_rerun_predicts_a_field_whose_mask_changed_again(
    tiny_run, tiny_data, tmp_path
):
    """Parts finished, then one field's mask edited in place (3 cells to 2): the rerun's
    CSV has its 2 cells, not the stale part's 3; the other fields' parts are kept."""
    import runpy

    from gapnet.segment import write_mask
    from gapnet.single_cell.submission import read_submission

    images = os.path.join(tiny_data, "train")
    ids = sorted(f[: -len("_green.png")] for f in os.listdir(images) if f.endswith("_green.png"))
    ids = ids[:2]
    fields, masks = tmp_path / "fields", tmp_path / "masks"
    fields.mkdir()
    masks.mkdir()
    m = np.zeros((48, 48), np.int32)
    m[1:20, 1:20], m[25:47, 5:30], m[5:15, 30:46] = 1, 2, 3
    for sid in ids:
        for c in ("red", "green", "blue", "yellow"):
            os.link(os.path.join(images, f"{sid}_{c}.png"), fields / f"{sid}_{c}.png")
        write_mask(str(masks / f"{sid}_cells.png"), m)
    out = str(tmp_path / "sub.csv")
    main = runpy.run_path("experiments/predict.py", run_name="predict")["main"]
    args = ["--run", tiny_run[0], "--images", str(fields), "--cells", str(masks)]
    args += ["--format", "hpa2021", "--out", out, "--workers", "1"]
    assert main(args) == 0
    m2 = m.copy()
    m2[m2 == 3] = 0
    write_mask(str(masks / f"{ids[1]}_cells.png"), m2)
    kept = os.path.getmtime(os.path.join(out + ".parts", f"{ids[0]}.txt"))
    assert main(args) == 0
    sub = read_submission(out)
    assert np.array_equal(sub[ids[1]][0], m2) and len(sub[ids[1]][1]) == 2
    assert np.array_equal(sub[ids[0]][0], m)
    assert os.path.getmtime(os.path.join(out + ".parts", f"{ids[0]}.txt")) == kept


def test_a_2021_submission_refuses_unfinished_and_2018_scheme_runs(tmp_path, tiny_run):
    import json

    from gapnet.cv.runfolder import RunError
    from gapnet.cv.submission import predict_test
    from gapnet.single_cell.predict import FieldScorer
    from gapnet.single_cell.run import SingleCellConfig

    run = tmp_path / "sc"
    run.mkdir()
    (run / "single_cell.json").write_text(json.dumps(SingleCellConfig().to_dict()))
    with pytest.raises(RunError, match="has not finished"):
        FieldScorer(str(run))
    (run / "single_cell.json").write_text(json.dumps(SingleCellConfig(scheme="hpa2018").to_dict()))
    with pytest.raises(RunError, match="hpa2018 single-cell run"):
        FieldScorer(str(run))
    (run / "single_cell.json").write_text(json.dumps({"unknown_key": 1}))
    with pytest.raises(RunError, match="not this gapnet's settings"):
        FieldScorer(str(run))
    # a 28-class run against a 2021 test CSV: refused before any image is read
    root = tmp_path / "t21"
    root.mkdir()
    (root / "sample_submission.csv").write_text(
        "ID,ImageWidth,ImageHeight,PredictionString\nabc,2048,2048,\n"
    )
    with pytest.raises(RunError, match="2018 submission needs 28"):
        predict_test(tiny_run[0], str(root), log=lambda *a: None)
