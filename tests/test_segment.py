"""Cell segmentation, masks from elsewhere, and the synthetic atlas's ground truth."""

import os

import numpy as np
import pytest

from gapnet.data.labels import DataError
from gapnet.segment import SegmentParams, mask_path, read_mask, segment_cells, write_mask


def constructed(size=160):
    """Three cells: round nuclei (blue) inside larger bodies (microtubules + ER), two of the
    nuclei close enough that their bodies touch. Returns (image, true nuclei, true cells)."""
    yy, xx = np.mgrid[:size, :size]
    centres = [(40, 40), (40, 95), (115, 80)]
    img = np.zeros((size, size, 4), np.uint8)
    nuclei = np.zeros((size, size), np.int32)
    cells = np.zeros((size, size), np.int32)
    for i, (cy, cx) in enumerate(centres, start=1):
        d = np.hypot(yy - cy, xx - cx)
        body = d < 30
        cells[body & (cells == 0)] = i
        nuclei[d < 13] = i
    rng = np.random.default_rng(0)
    img[..., 2] = np.where(nuclei > 0, 200, 5)  # blue
    img[..., 0] = np.where(cells > 0, 90, 4)  # red
    img[..., 3] = np.where(cells > 0, 70, 4)  # yellow
    img[..., 1] = np.where(cells > 0, 50, 3)
    img = np.clip(img + rng.integers(0, 6, img.shape), 0, 255).astype(np.uint8)
    return img, nuclei, cells


def _best_iou(pred, true, label):
    t = true == label
    return max(((pred == p) & t).sum() / ((pred == p) | t).sum() for p in range(1, pred.max() + 1))


def test_segmentation_finds_the_constructed_cells():
    img, true_nuclei, true_cells = constructed()
    cells, nuclei = segment_cells(img, SegmentParams(nucleus_diameter=26))
    assert nuclei.max() == 3 and cells.max() == 3
    for label in (1, 2, 3):
        assert _best_iou(nuclei, true_nuclei, label) > 0.8
        assert _best_iou(cells, true_cells, label) > 0.8
    # cell i holds nucleus i
    for label in (1, 2, 3):
        assert np.all(cells[nuclei == label] == label)


def test_masks_round_trip_in_every_format_and_bad_ones_are_named(tmp_path):
    import tifffile

    labels = np.zeros((20, 30), np.int32)
    labels[2:8, 3:9], labels[10:18, 12:25] = 1, 700  # > 255: needs 16 bits
    write_mask(str(tmp_path / "a_cells.png"), labels)
    np.save(tmp_path / "b_cells.npy", labels)
    tifffile.imwrite(tmp_path / "c_cells.tif", labels.astype(np.uint16))
    for sid in "abc":
        path = mask_path(str(tmp_path), sid)
        np.testing.assert_array_equal(read_mask(path), labels)
    small = read_mask(mask_path(str(tmp_path), "a"), (10, 15))  # nearest: labels kept
    assert set(np.unique(small)) == {0, 1, 700}
    assert mask_path(str(tmp_path), "zzz") is None
    np.save(tmp_path / "bad_cells.npy", np.random.default_rng(0).random((4, 4, 3)))
    with pytest.raises(DataError, match="bad_cells.npy"):
        read_mask(str(tmp_path / "bad_cells.npy"))
    (tmp_path / "broken_cells.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken_cells.png"):
        read_mask(str(tmp_path / "broken_cells.png"))


def test_segment_script_writes_masks_and_resumes(tmp_path, capsys):
    import csv
    import shutil

    from data_prep.segment import main
    from gapnet.data.synthetic.generate import write_dataset
    from gapnet.segment import read_mask

    root = write_dataset(tmp_path / "syn", 3, 96, seed=2, workers=1, progress=False)
    out = tmp_path / "masks"
    assert main([root, "--out", str(out), "--size", "96", "--workers", "1"]) == 0
    files = sorted(f for f in os.listdir(out) if f.endswith(".png"))
    assert len(files) == 6 and all(f.endswith(("_cells.png", "_nuclei.png")) for f in files)

    def table():
        with open(out / "segmentation.csv", newline="") as f:
            return list(csv.DictReader(f))

    rows = table()
    ids = [f[: -len("_cells.png")] for f in files if f.endswith("_cells.png")]
    assert sorted(r["image"] for r in rows) == ids
    for r in rows:  # the counts and edge cells are those of the masks written
        cells = read_mask(str(out / f"{r['image']}_cells.png"))
        assert int(r["cells"]) == cells.max() and r["diameter"] == "estimated"
        border = np.concatenate([cells[0], cells[-1], cells[:, 0], cells[:, -1]])
        assert r["edge"].split() == [str(i) for i in sorted(set(border.tolist()) - {0})]
        assert float(r["nucleus_diameter"]) > 0 and r["method"] == "learned"
    first = os.path.getmtime(out / files[0])
    assert main([root, "--out", str(out), "--size", "96", "--workers", "1"]) == 0
    assert os.path.getmtime(out / files[0]) == first  # done samples are skipped
    assert table() == rows  # and still reported, from their kept rows
    # a rerun with other settings keeps the done samples and says so
    args = [root, "--out", str(out), "--size", "96", "--workers", "1"]
    assert main(args + ["--nucleus-diameter", "12"]) == 0
    assert "3 samples were segmented by an earlier run with other settings" in (
        capsys.readouterr().err
    )
    # so does a rerun with the other nucleus method, naming the kept masks' method
    assert main(args + ["--method", "classical"]) == 0
    err = capsys.readouterr().err
    assert "3 samples were segmented by an earlier run" in err and "learned method" in err
    # masks left by a gapnet that kept no rows: reported from the masks
    shutil.rmtree(out / "rows")
    assert main(args) == 0
    again = table()
    assert [r["diameter"] for r in again] == ["not recorded"] * 3
    assert [r["cells"] for r in again] == [r["cells"] for r in rows]


def test_ground_truth_is_written_and_agrees_with_the_rendered_pixels(tmp_path):
    import csv

    from gapnet.data.images import read_channel
    from gapnet.data.synthetic.generate import write_dataset

    plain = write_dataset(tmp_path / "plain", 6, 128, seed=5, workers=1, progress=False)
    truth = write_dataset(tmp_path / "truth", 6, 128, seed=5, workers=1, progress=False, truth=True)
    for f in sorted(os.listdir(os.path.join(plain, "train"))):  # same bytes either way
        assert (
            open(os.path.join(plain, "train", f), "rb").read()
            == open(os.path.join(truth, "train", f), "rb").read()
        )
    with open(os.path.join(truth, "truth", "cells.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(truth, "train.csv"), newline="") as f:
        image_labels = {r["Id"]: {int(k) for k in r["Target"].split()} for r in csv.DictReader(f)}
    assert {r["Id"] for r in rows} == set(image_labels)
    for r in rows:  # a cell shows some of its image's labels, or none (not expressing)
        assert {int(k) for k in r["labels"].split()} <= image_labels[r["Id"]]
    tdir = os.path.join(truth, "truth")
    for sid, labels in image_labels.items():
        cells = read_mask(os.path.join(tdir, f"{sid}_cells.png"))
        nuclei = read_mask(os.path.join(tdir, f"{sid}_nuclei.png"))
        assert cells.shape == (128, 128) and np.all(cells[nuclei > 0] == nuclei[nuclei > 0])
        assert {int(r["cell"]) for r in rows if r["Id"] == sid} == set(np.unique(cells)) - {0}
        green = read_channel(os.path.join(truth, "train", f"{sid}_green.png"), "green", 128)
        for k in labels:
            mask = read_mask(os.path.join(tdir, f"{sid}_{k}.png")) > 0
            assert mask.any()
            # the protein is brighter where label k was drawn than in the background
            assert green[mask].mean() > green[cells == 0].mean()


def test_a_bad_file_in_a_worker_process_is_named_by_the_command(tmp_path, capsys):
    # the ImageError crosses the process boundary (pickled) with the file still named;
    # before, unpickling it failed (its __init__ takes two arguments)
    import pickle

    from data_prep.segment import main
    from gapnet.data.images import ImageError
    from gapnet.data.synthetic.generate import write_dataset

    e = pickle.loads(pickle.dumps(ImageError("x_blue.png", "truncated")))
    assert str(e) == "x_blue.png: truncated" and e.path == "x_blue.png"
    root = write_dataset(tmp_path / "syn", 3, 96, seed=2, workers=1, progress=False)
    bad = sorted((tmp_path / "syn" / "train").glob("*_blue.png"))[1]
    bad.write_bytes(b"not a png")
    out = tmp_path / "masks"
    argv = [root, "--out", str(out), "--size", "96", "--workers", "2", "--method", "classical"]
    assert main(argv) == 1  # classical: the workers need no TensorFlow for this
    err = capsys.readouterr().err
    assert bad.name in err and "run again to continue" in err


def test_segmentation_that_would_not_fit_is_refused_naming_the_folder(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from gapnet.io import DiskSpaceError
    from gapnet.segment import check_mask_space, mask_bytes

    out = tmp_path / "masks"
    out.mkdir()
    ids = [f"s{k}" for k in range(10)]
    for i in ids[:4]:  # finished samples are not counted again
        for kind in ("cells", "nuclei"):
            (out / f"{i}_{kind}.png").write_bytes(os.urandom(9000))  # zeros: no blocks
    (out / "s4_cells.png").write_bytes(os.urandom(9000))  # half-written: still to do
    per = mask_bytes(str(out), set(os.listdir(out)), 512)
    assert per >= 2 * 9000 and per == mask_bytes(str(out), set(os.listdir(out)), 2048)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 5 * per, 5 * per))
    with pytest.raises(DiskSpaceError, match="the masks of 6 samples at 512 px") as e:
        check_mask_space(str(out), ids, 512)
    assert str(out) in str(e.value)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 0, 10**9))
    check_mask_space(str(out), ids, 512)  # enough room: no error
    empty = tmp_path / "new"
    empty.mkdir()
    assert mask_bytes(str(empty), set(), 2048) > 12 * mask_bytes(str(empty), set(), 512)


def test_a_mask_of_more_than_65535_objects_is_refused_not_wrapped(tmp_path):
    """A 16-bit PNG holds labels up to 65,535: label 65,536 would be written as 0 (the
    object lost into the background) without the refusal."""
    from gapnet.data.images import ImageError

    labels = np.zeros((2, 2), np.int32)
    labels[0, 0], labels[1, 1] = 65535, 7
    write_mask(str(tmp_path / "ok.png"), labels)
    np.testing.assert_array_equal(read_mask(str(tmp_path / "ok.png")), labels)  # the limit itself
    labels[0, 1] = 65536
    with pytest.raises(ImageError, match=r"field.png: 65536 objects found: more than a 16-bit"):
        write_mask(str(tmp_path / "bad.png"), labels, source="field.png")
    assert not os.path.exists(tmp_path / "bad.png")


def test_segment_images_takes_own_channel_names_through_the_channel_map(tmp_path, capsys):
    """data_prep/segment.py --images --channel-map DAPI=blue,Tub=red on plain files:
    per-channel PNGs <stem>_DAPI.png / <stem>_Tub.png are one image (not two lone nucleus
    images), and an OME-TIFF's channel names go through the same map."""
    import runpy

    import tifffile
    from PIL import Image

    img, true_nuclei, _ = constructed()
    d = tmp_path / "own"
    d.mkdir()
    Image.fromarray(img[..., 2]).save(d / "a_DAPI.png")
    Image.fromarray(img[..., 0]).save(d / "a_Tub.png")
    tifffile.imwrite(
        d / "b.ome.tif",
        np.stack([img[..., 0], img[..., 2]]),
        metadata={"axes": "CYX", "Channel": {"Name": ["Tub", "DAPI"]}},
        ome=True,
    )
    main = runpy.run_path("data_prep/segment.py", run_name="segment")["main"]
    out = tmp_path / "masks"
    argv = ["--images", str(d), "--out", str(out), "--nucleus-diameter", "26"]
    assert main(argv + ["--channel-map", "DAPI=blue,Tub=red"]) == 0
    capsys.readouterr()
    for stem in ("a", "b"):
        nuclei = read_mask(str(out / f"{stem}_nuclei.png"))
        cells = read_mask(str(out / f"{stem}_cells.png"))
        assert nuclei.max() == 3 and cells.max() == 3
        assert _best_iou(nuclei, true_nuclei, 1) > 0.8
    assert not (out / "a_DAPI_nuclei.png").exists()
