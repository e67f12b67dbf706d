"""The single-cell job's parts: the cell cache, the methods' scores, the per-cell
evaluation, the 2021 submission from a run (decoded back), and the whole job (slow)."""

import os

import numpy as np
import pytest

from gapnet.single_cell import evaluate as ev
from gapnet.single_cell.scores import method_scores


def test_method_scores_product_mean_negative_rule_and_edge_weight():
    img = np.array([[0.8, 0.5, 0.1], [0.8, 0.5, 0.1]])
    cell = np.array([[0.5, 0.2, 0.9], [0.1, 0.4, 0.3]])
    s = method_scores(img, cell)
    assert np.allclose(s["image_x_cell"], img * cell)
    assert np.allclose(s["image_mean_cell"], (img + cell) / 2)
    assert "maps" not in s
    s = method_scores(img, cell, negative=(2, "none_of"))
    assert np.allclose(s["cell"][:, 2], (1 - cell[:, 0]) * (1 - cell[:, 1]))
    prod = img * cell
    assert np.allclose(s["image_x_cell"][:, 2], (1 - prod[:, 0]) * (1 - prod[:, 1]))
    assert np.allclose(s["image_x_cell"][:, :2], prod[:, :2])
    s = method_scores(img, cell, edge=[True, False], edge_weight=0.5)
    assert np.allclose(s["cell"], cell * [[0.5], [1.0]])
    with pytest.raises(ValueError, match="negative rule"):
        method_scores(img, cell, negative=(2, "both"))


def _truth_and_pred():
    t = np.zeros((20, 20), np.int32)
    t[0:10, 0:10], t[0:10, 10:20], t[10:20, 0:20] = 1, 2, 3
    labels = np.array([[1, 0], [0, 1], [1, 1]], bool)
    p = t.copy()
    p[t == 2] = 0  # true cell 2 missed
    p[12:20, 0:20] = 4  # cell 3 predicted at IoU 0.8 as label 4; a sliver as 3 stays
    return t, labels, p


def test_matched_cells_pair_predictions_with_true_cells_at_iou_06():
    from gapnet.single_cell.cell_set import relabel

    t, labels, p = _truth_and_pred()
    p = relabel(p)  # 1 (cell 1), 2 (sliver of 3: IoU 0.2), 3 (IoU 0.8 with 3)
    idx, y, image = ev.matched_cells([(t, labels)], [p], [slice(5, 8)])
    assert idx.tolist() == [5, 7] and image.tolist() == [0, 0]
    assert y.tolist() == [[True, False], [True, True]]


def test_cell_f1_is_sklearns_at_thresholds_from_the_other_folds():
    from sklearn.metrics import f1_score

    from gapnet import thresholds

    rng = np.random.default_rng(1)
    y = rng.random((60, 3)) < 0.4
    s = np.clip(y * 0.4 + rng.random((60, 3)) * 0.7, 0, 1)
    image = np.repeat(np.arange(12), 5)
    image_folds = np.arange(12) % 3
    r = ev.cell_f1(y, s, image, image_folds, n_boot=50)
    cross = thresholds.crossfit("f1_search", y, s, image_folds[image], step=0.01)
    want = f1_score(y, s > cross, average="macro", zero_division=0)
    assert r["macro_f1"] == pytest.approx(want)
    assert r["macro_f1_tuned"] >= r["macro_f1"] - 1e-9  # tuned on the scored cells
    assert r["macro_f1_ci95"][0] <= r["macro_f1"] <= r["macro_f1_ci95"][1]


def test_map_table_gain_is_the_difference_of_the_two_maps():
    t, labels, p = _truth_and_pred()
    truth = [(t, labels)] * 4
    rows = [slice(0, 3)] * 4
    good = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6]])
    flat = np.full((3, 2), 0.5)
    masks = [t] * 4
    hits = {
        "image": ev.hits_of(truth, masks, flat, rows),
        "image_x_cell": ev.hits_of(truth, masks, good, rows),
    }
    r = ev.map_table(hits, n_boot=50)
    for c in ("all", "present"):
        diff = r["map"][f"image_x_cell/{c}"] - r["map"][f"image/{c}"]
        assert r["gain"][c] == pytest.approx(diff)
    assert r["map"]["image_x_cell/all"] == pytest.approx(1.0)  # perfect masks and ranking
    assert r["map"]["image/all"] < 1.0


@pytest.mark.slow
def test_the_single_cell_job_runs_resumes_and_reports(tmp_path):
    """The whole job on a tiny atlas: every stage kept on disk, a second call reads them
    back (no training), every method scored against the atlas's true cells."""
    from gapnet.single_cell.cell_model import CellModelConfig
    from gapnet.single_cell.run import SingleCellConfig, run_single_cell

    cfg = SingleCellConfig(
        synthetic_n=24,
        synthetic_size=128,
        synthetic_seed=5,
        image_epochs=1,
        image_size=64,
        cell=CellModelConfig(epochs=1, crop_size=24),
    )
    out = str(tmp_path / "sc")
    r = run_single_cell(cfg, out, log=lambda *a: None)
    assert r["synthetic"] and r["scheme"] == "hpa2021"
    for m in ("image", "maps", "cell", "image_x_cell"):
        assert 0 <= r["map"][f"{m}/all"] <= 1 and 0 <= r["map"][f"{m}/present"] <= 1
    assert len(r["per_class"]["image/all"]) == 19
    assert r["n_cells"] > 24 and os.path.isfile(os.path.join(out, "report", "report.html"))
    for k in range(3):
        assert os.path.isfile(os.path.join(out, "cell_model", f"fold_{k}.keras"))
    # the cell model's folds are the image run's: every cell's fold is its field's
    import csv

    with open(os.path.join(out, "image_run", "folds.csv"), newline="") as f:
        fold_of = {row["Id"]: row["fold"] for row in csv.DictReader(f)}
    with open(os.path.join(out, "cells.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == r["n_cells"] and all(row["fold"] == fold_of[row["Id"]] for row in rows)
    counts = {k: sum(row["fold"] == str(k) for row in rows) for k in range(3)}
    for k in range(3):
        assert len(np.load(os.path.join(out, "cell_model", f"fold_{k}.npy"))) == counts[k]
    logs = []
    again = run_single_cell(cfg, out, log=logs.append)
    assert again["map"] == r["map"]
    assert sum("read back" in str(line) for line in logs) == 3
    assert any("0 segmented and cropped now" in str(line) for line in logs)
    redone = [line for line in map(str, logs) if "training on" in line or "maps: fold " in line]
    assert not redone, redone
    assert "maps: folds [0, 1, 2] kept from an earlier run" in " ".join(map(str, logs))
    # other settings on the same folder are refused
    from dataclasses import replace

    from gapnet.cv.runfolder import RunError

    with pytest.raises(RunError, match="crop_size"):
        run_single_cell(replace(cfg, cell=replace(cfg.cell, crop_size=32)), out, log=logs.append)
    # the maps, one field per gradient call, equal the job's batched ones
    from gapnet.data.cache import open_reader
    from gapnet.data.source import open_source
    from gapnet.single_cell.cell_maps import cached_map_scores, map_scores
    from gapnet.single_cell.cell_set import cell_set

    src = open_source(r["root"], scheme="hpa2021")
    ids = [i for i in src.labels.ids]
    cs = cell_set(src.image_dir, ids, os.path.join(out, "cells"), 24, log=lambda *a: None)
    from gapnet.cv.runfolder import read_predictions

    oof_ids, oof = read_predictions(os.path.join(out, "image_run", "oof_predictions.csv"))
    assert oof_ids == ids
    folds = np.array([int(fold_of[i]) for i in ids])
    reader = open_reader(src, ids, 64, "auto", log=lambda *a: None)
    one = map_scores(os.path.join(out, "image_run"), reader, ids, folds, oof, cs, batch=1)
    logs = []  # the job's maps, kept fold by fold, are read back, not mapped again
    kept = cached_map_scores(
        os.path.join(out, "maps"),
        os.path.join(out, "image_run"),
        reader,
        ids,
        folds,
        oof,
        cs,
        log=logs.append,
    )
    every = sorted(set(folds.tolist()))
    assert logs == [f"maps: folds {every} kept from an earlier run (same cells and image models)"]
    np.testing.assert_allclose(one, kept, rtol=1e-4, atol=1e-6)
    # the finished job predicts a 2021 submission with its own cells, read back intact
    from gapnet.single_cell.predict import FieldScorer, predict_submission
    from gapnet.single_cell.submission import read_submission

    root = r["root"]
    ids = cs.ids[:2]
    sub = str(tmp_path / "sub.csv")
    predict_submission(out, os.path.join(root, "train"), ids, sub, log=lambda *a: None)
    got = read_submission(sub)
    scorer = FieldScorer(out)
    from gapnet.data.images import read_sample
    from gapnet.single_cell.cell_set import field_cells

    for sid in ids:
        field = read_sample(os.path.join(root, "train"), sid, 128)
        cells, _ = field_cells(field, None, sid, cfg.nucleus_diameter)
        assert np.array_equal(got[sid][0], cells)
        np.testing.assert_allclose(got[sid][1], scorer.score(field, cells), rtol=1e-5)
    # the real-field benchmark's path on two atlas fields, the truth as reference masks
    import runpy
    from types import SimpleNamespace

    real = runpy.run_path("benchmarks/single_cell_real.py", run_name="bench")
    fields = tmp_path / "two"
    fields.mkdir()
    for sid in ids[:2]:
        for c in ("red", "green", "blue", "yellow"):
            os.link(os.path.join(root, "train", f"{sid}_{c}.png"), fields / f"{sid}_{c}.png")
    reviews = tmp_path / "reviews.csv"
    lines = ["image_id,mask_label,class_2021,score_1to5"]
    for sid in ids[:2]:
        n = int(field_cells(read_sample(str(fields), sid, 128), None, sid)[0].max())
        lines += [f"{sid},{c},0,{5 if c % 2 else 1}" for c in range(1, n + 1)]
    reviews.write_text("\n".join(lines) + "\n")
    args = SimpleNamespace(
        run=out, images=str(fields), masks=os.path.join(root, "truth"), percell=str(reviews)
    )
    res = real["run"](args, str(tmp_path / "real_out"))
    assert res["round_trip"] == {"reference": True, "own": True}
    assert res["auc"]["reference"]["n_cells"] > 0
    assert res["auc"]["reference"]["pooled"]["image"] == pytest.approx(0.5, abs=0.2)


def test_changed_settings_are_refused_and_force_redoes_exactly_the_stale_stages(tmp_path):
    from dataclasses import replace

    from gapnet.cv.runfolder import RunError
    from gapnet.single_cell.settings import STAGES, SingleCellConfig, check_run_config

    cfg = SingleCellConfig()
    out = tmp_path / "sc"

    def fill():
        for s in STAGES:
            (out / s).mkdir(parents=True, exist_ok=True) if "." not in s else (out / s).touch()

    check_run_config(str(out), cfg)
    fill()
    check_run_config(str(out), replace(cfg, workers=3))  # how many processes: no change
    assert all((out / s).exists() for s in STAGES)
    check_run_config(str(out), replace(cfg, edge_weight=0.5))  # scoring only: passes
    assert not (out / "results.json").exists() and (out / "maps").exists()
    fill()
    new_cell = replace(cfg, edge_weight=0.5, cell=replace(cfg.cell, epochs=3))
    with pytest.raises(RunError, match=r"cell\.epochs: 8 -> 3"):
        check_run_config(str(out), new_cell)
    check_run_config(str(out), new_cell, force=True)
    assert (out / "cells").exists() and not (out / "cell_model").exists()
    assert (out / "image_run").exists() and not (out / "maps").exists()
    fill()
    check_run_config(str(out), replace(new_cell, cell=replace(new_cell.cell, crop_size=32)), True)
    assert not (out / "cells").exists() and (out / "image_run").exists()
    fill()
    with pytest.raises(RunError, match="image_run"):
        check_run_config(str(out), replace(new_cell, image_epochs=13))
    check_run_config(str(out), replace(new_cell, image_epochs=13), force=True)
    assert not any((out / s).exists() for s in STAGES)


def test_kept_maps_are_remapped_only_in_the_fold_whose_cells_changed(tmp_path, monkeypatch):
    """A field's cells changed (its image or mask) remap its own fold's maps, not the
    others' (each fold's stamp holds its own fields' prints and its model's checksums)."""
    import hashlib
    from types import SimpleNamespace

    from gapnet.io import atomic_write_json
    from gapnet.single_cell import cell_maps

    folds = np.array([0, 1, 2, 0, 1, 2])
    counts = np.array([2, 1, 3, 1, 2, 1])  # cells per field
    field_of = np.repeat(np.arange(6), counts)
    run = tmp_path / "image_run"
    for k in range(3):
        atomic_write_json(run / f"fold_{k}" / "done.json", {"sha256": {"model.keras": str(k)}})
    mapped = []

    def fake_map_scores(image_run, reader, ids, folds, image_p, cs, batch=16, only=None):
        (k,) = only
        mapped.append(k)
        mine = (folds[field_of] == k)[:, None]
        return np.where(mine, np.float32(k + 1), np.zeros((len(field_of), 2), np.float32))

    monkeypatch.setattr(cell_maps, "map_scores", fake_map_scores)

    def cells(prints):
        return SimpleNamespace(
            n_cells=int(counts.sum()),
            cell_fields=lambda: field_of,
            field_prints=prints,
            print=hashlib.sha256("".join(prints).encode()).hexdigest(),
        )

    def scores(prints):
        out = str(tmp_path / "maps")
        args = (str(run), None, list("abcdef"), folds, np.zeros((6, 2)), cells(prints))
        return cell_maps.cached_map_scores(out, *args, log=lambda *a: None)

    prints = [f"p{n}" for n in range(6)]
    first = scores(prints)
    assert mapped == [0, 1, 2] and (first[:, 0] == folds[field_of] + 1).all()
    mapped.clear()
    np.testing.assert_array_equal(scores(prints), first)  # all kept
    assert mapped == []
    prints[4] = "p4 after its image was edited"  # field 4 is in fold 1
    np.testing.assert_array_equal(scores(prints), first)
    assert mapped == [1]
