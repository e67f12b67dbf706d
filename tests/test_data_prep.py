"""data_prep tools: stratified splits, oversampling (physical and virtual), HPAv18 import."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from gapnet.cv.folds import make_folds, make_split
from gapnet.data.images import read_channel
from gapnet.data.oversample import (
    TRANSFORMS,
    plan_copies,
    sampling_weights,
    transform,
    write_oversampled,
)
from gapnet.data.source import open_source
from gapnet.data.synthetic.generate import real_label_sets
from tests.conftest import REAL_JPG


@pytest.fixture(scope="module")
def real_targets():
    sets = real_label_sets()[:3000]  # the real HPA label column
    t = np.zeros((len(sets), 28), np.uint8)
    for i, labels in enumerate(sets):
        t[i, list(labels)] = 1
    return t


def test_split_is_80_10_10_and_stratified(real_targets):
    split = make_split(real_targets, 0.1, 0.1, seed=0)
    share = {s: (split == s).mean() for s in ("train", "val", "test")}
    assert share == pytest.approx({"train": 0.8, "val": 0.1, "test": 0.1}, abs=0.005)
    common = real_targets.sum(0) >= 100
    for s in ("val", "test"):  # each frequent label keeps its share in every part
        ratio = real_targets[split == s].sum(0)[common] / real_targets.sum(0)[common]
        assert np.all(np.abs(ratio - 0.1) < 0.03), (s, ratio)
    np.testing.assert_array_equal(split, make_split(real_targets, 0.1, 0.1, seed=0))


def test_plan_copies_lifts_every_label_and_weights_follow_it(real_targets):
    copies = plan_copies(real_targets, 60, seed=0)
    after = real_targets.sum(0) + copies @ real_targets
    present = real_targets.sum(0) > 0
    assert after[present].min() >= 60
    short = real_targets.sum(0) < 60
    assert np.all(real_targets[copies > 0][:, short].any(1))  # only carriers of short labels
    np.testing.assert_array_equal(sampling_weights(real_targets, 60, 0), 1 + copies)


def test_transforms_are_the_seven_non_identity_symmetries():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    views = [transform(img, j) for j in range(len(TRANSFORMS))]
    keys = {v.tobytes() + bytes(v.shape) for v in views}
    assert len(keys) == 7 and img.tobytes() + bytes(img.shape) not in keys


def test_oversampled_dataset_keeps_copies_in_their_source_fold(tiny_data, tmp_path):
    out = tmp_path / "over"
    n, copies = write_oversampled(
        tiny_data, str(out), min_count=4, seed=0, progress=False, log=lambda *a: None
    )
    table = open_source(out).labels
    assert len(table) == n + copies and copies > 0
    assert table.targets.sum(0)[table.targets.sum(0) > 0].min() >= 4
    src = open_source(tiny_data)
    k = next(i for i, s in enumerate(table.sources) if s)
    copy_id, source_id = table.ids[k], table.sources[k]
    j = int(copy_id.rsplit("_os", 1)[1])
    for color in ("red", "green"):
        original = read_channel(os.path.join(src.image_dir, f"{source_id}_{color}.png"), color)
        copy = np.asarray(Image.open(out / "train" / f"{copy_id}_{color}.png"))
        np.testing.assert_array_equal(copy, transform(original, j))
    folds = make_folds(table.targets, 3, 0, table.groups)
    fold_of = dict(zip(table.ids, folds, strict=True))
    for i, s in zip(table.ids, table.sources, strict=True):
        if s:
            assert fold_of[i] == fold_of[s], (i, s)


def test_import_external_converts_planes_and_reports_skips(tmp_path):
    src = tmp_path / "hpav18"
    src.mkdir()
    for f in os.listdir(REAL_JPG):
        if f.endswith(".jpg"):
            shutil.copy(os.path.join(REAL_JPG, f), src / f)
            shutil.copy(
                os.path.join(REAL_JPG, f), src / f.replace("10814_50_A1_1", "10814_50_A1_2")
            )
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "Id,Target\n10814_50_A1_1,0 5\n10814_50_A1_2,0 5\n99_1_A1_1,3\n10814_50_A1_1,0 5\n"
        "7_7_A1_1,2\n"
    )
    # a labelled sample with only its green file; a full file set with no label row
    shutil.copy(os.path.join(src, "10814_50_A1_1_green.jpg"), src / "7_7_A1_1_green.jpg")
    for c in ("red", "green", "blue", "yellow"):
        shutil.copy(os.path.join(src, f"10814_50_A1_1_{c}.jpg"), src / f"5_5_B2_1_{c}.jpg")
    root = tmp_path / "kaggle"
    from gapnet.data.external import import_external

    r = import_external(
        str(src), str(root), str(labels), size=512, workers=1, progress=False, log=lambda *a: None
    )
    assert r["imported"] == ["10814_50_A1_1"]
    assert r["skipped"]["duplicate image"] == ["10814_50_A1_2 (same as 10814_50_A1_1)"]
    assert r["skipped"]["incomplete file set"] == ["7_7_A1_1: no red, blue, yellow"]
    assert r["skipped"]["files without a label row"] == ["5_5_B2_1"]
    assert r["labelled_without_files"] == 1  # 99_1_A1_1: counted, never listed
    report = (root / "import_report.txt").read_text()
    assert "99_1_A1_1" not in report and "1 labelled Ids have no file" in report
    assert "duplicate Id" in r["skipped"]["label file problem"][0]
    for color in ("red", "green", "blue", "yellow"):
        png = np.asarray(Image.open(root / "train" / f"10814_50_A1_1_{color}.png"))
        assert png.shape == (512, 512) and png.dtype == np.uint8
        np.testing.assert_array_equal(
            png, read_channel(str(src / f"10814_50_A1_1_{color}.jpg"), color, 512)
        )
    table = open_source(root).labels
    assert table.ids == ("10814_50_A1_1",) and table.targets[0, [0, 5]].tolist() == [1, 1]
    again = import_external(
        str(src), str(root), str(labels), size=512, workers=1, progress=False, log=lambda *a: None
    )
    assert again["imported"] == [] and again["skipped"]["already in ROOT"] == ["10814_50_A1_1"]
    assert again["skipped"]["duplicate image"] == ["10814_50_A1_2 (same as 10814_50_A1_1)"]
    report = (root / "import_report.txt").read_text()
    assert "1 skipped: already in ROOT\n" in report and "  10814_50_A1_1\n" not in report


def test_import_external_refuses_an_import_that_would_not_fit(tmp_path, monkeypatch):
    import shutil as sh
    from collections import namedtuple

    from gapnet.data.external import import_external
    from gapnet.io import DiskSpaceError

    src = tmp_path / "hpav18"
    src.mkdir()
    for f in os.listdir(REAL_JPG):
        if f.endswith(".jpg"):
            sh.copy(os.path.join(REAL_JPG, f), src / f)
    labels = tmp_path / "labels.csv"
    labels.write_text("Id,Target\n10814_50_A1_1,0 5\n")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(sh, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    root = tmp_path / "kaggle"
    with pytest.raises(DiskSpaceError, match="1 new samples needs"):
        import_external(str(src), str(root), str(labels), 512, 1, False, log=lambda *a: None)
    assert not (root / "train.csv").exists() and not os.listdir(root / "train")


def test_simulated_hpav18_files_import_back_to_the_atlas_samples(tiny_data, tmp_path, monkeypatch):
    from gapnet.data.external import import_external
    from gapnet.data.synthetic.hpav18 import write_hpav18

    src, root = tmp_path / "hpav18", tmp_path / "kaggle"
    new = write_hpav18(tiny_data, str(src), size=96, n=3, workers=1, progress=False)
    names = sorted(os.listdir(src))
    assert len(names) == 13 and "labels.csv" in names  # 3 samples x 4 RGB JPEGs
    green = Image.open(src / f"{new[0]}_green.jpg")
    assert green.mode == "RGB" and green.size == (96, 96)
    r = import_external(
        str(src), str(root), str(src / "labels.csv"), 48, 1, False, log=lambda *a: None
    )
    assert sorted(r["imported"]) == sorted(new) and r["labelled_without_files"] == 0
    assert not any(r["skipped"].values())
    atlas, imported = open_source(tiny_data), open_source(root)
    order = [imported.labels.ids.index(i) for i in new]
    np.testing.assert_array_equal(imported.labels.targets[order], atlas.labels.targets[:3])
    for k, i in enumerate(new):  # the pixels come back within JPEG's loss
        for color in ("green", "yellow"):
            a = read_channel(
                os.path.join(atlas.image_dir, f"{atlas.labels.ids[k]}_{color}.png"), color, 48
            )
            b = read_channel(os.path.join(imported.image_dir, f"{i}_{color}.png"), color, 48)
            other = read_channel(
                os.path.join(atlas.image_dir, f"{atlas.labels.ids[k + 3]}_{color}.png"), color, 48
            )
            same = np.corrcoef(a.ravel(), b.ravel())[0, 1]
            assert same > 0.9 and same > np.corrcoef(other.ravel(), b.ravel())[0, 1] + 0.3
    # a kill before the label rows were written: the rerun keeps the PNGs, decodes no JPEG
    import gapnet.data.external as ext

    os.remove(root / "train.csv")
    hashes = (root / "image_hashes.csv").read_text()
    os.remove(root / "image_hashes.csv")
    damaged = root / "train" / f"{new[1]}_green.png"
    good = damaged.read_bytes()
    damaged.write_bytes(b"not a png")  # damaged since: converted again, not a crash
    before = {
        f: os.path.getmtime(root / "train" / f)
        for f in os.listdir(root / "train")
        if not f.startswith(new[1])
    }
    read, real = [], ext.read_channel
    monkeypatch.setattr(ext, "read_channel", lambda p, *a: read.append(p) or real(p, *a))
    said = []
    again = import_external(str(src), str(root), str(src / "labels.csv"), 48, 1, False, said.append)
    jpgs = [p for p in read if p.endswith(".jpg")]
    assert sorted(again["imported"]) == sorted(new) and all(new[1] in p for p in jpgs) and jpgs
    assert damaged.read_bytes() == good
    assert "3 samples were converted by an earlier run: not decoded again" in said
    assert {f: os.path.getmtime(root / "train" / f) for f in before} == before
    assert (root / "image_hashes.csv").read_text() == hashes  # the same duplicate check
    np.testing.assert_array_equal(open_source(root).labels.targets[order], atlas.labels.targets[:3])


@pytest.mark.parametrize("script", ["segment", "build_cache"])
def test_a_missing_dataset_folder_is_named_without_a_resume_hint(script, tmp_path, capsys):
    """Nothing can have been kept from a folder that is not there: the error alone (it
    added "(samples already segmented are kept; run again to continue)")."""
    import importlib

    main = importlib.import_module(f"data_prep.{script}").main
    missing = str(tmp_path / "missing")
    args = [missing, "--out", str(tmp_path / "m")] if script == "segment" else [missing]
    assert main([*args, "--size", "64"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"error: {missing}: dataset folder not found", err
