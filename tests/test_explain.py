"""Localization maps, per-cell calls and the explain command on a tiny run."""

import csv
import os
import shutil

import numpy as np
import pytest

from gapnet.explain.maps import Explainer
from tests.test_maps import per_image_model


def test_cell_calls_follow_the_map_mass():
    from gapnet.explain.cells import CELLS_HEADER, cell_calls, cell_rows

    cells = np.zeros((10, 10), np.int32)
    cells[:, :5], cells[2:8, 6:9] = 1, 2  # cell 1 cut by the border, cell 2 inside
    probs = np.full(28, 0.1, np.float32)
    probs[4] = 0.9
    maps = np.zeros((1, 10, 10), np.float32)
    maps[0, :, :5] = 1.0  # class 4's signal sits in cell 1
    maps[0, :, 5:] = 0.1
    scores, labels = cell_calls(probs, np.full(28, 0.5), maps, [4], cells)
    assert labels == [[4], []]
    np.testing.assert_allclose(scores[:, 4], [0.9, 0.9 * 0.1 / 0.55], rtol=1e-5)  # vs the median
    np.testing.assert_allclose(scores[:, 0], [0.1, 0.1])  # no map: the image's probability
    rows = cell_rows("s1", scores, labels, cells)
    assert len(rows) == 2 and rows[0].startswith("s1,1,2.0,4.5,50,")
    assert rows[0].endswith(",4") and len(rows[0].split(",")) == len(CELLS_HEADER.split(","))
    edge = CELLS_HEADER.split(",").index("edge")
    assert [r.split(",")[edge] for r in rows] == ["1", "0"]


@pytest.mark.slow
def test_explain_writes_figures_gallery_cells_and_embeddings(tiny_run, tmp_path):
    import csv

    from gapnet.explain.run_explain import ExplainRequest, explain
    from gapnet.report.run_report import write_report

    run = str(tmp_path / "run")
    shutil.copytree(tiny_run[0], run)
    summary = explain(ExplainRequest(run, n=1, embeddings=True), log=lambda *a: None)
    out = os.path.join(run, "explain")
    assert summary["samples"] and summary["method"]["maps"] == "input_gradient"
    for sid in summary["samples"]:
        assert os.path.getsize(os.path.join(out, "figures", f"{sid}.png")) > 1000
    with open(os.path.join(out, "cells.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and {r["Id"] for r in rows} <= set(summary["samples"])
    for r in rows:
        assert int(r["area"]) > 0 and 0 <= float(r["p_0"]) <= 1
        assert all(0 <= int(k) < 28 for k in r["labels"].split())
    assert "figures/" in open(os.path.join(out, "gallery.html")).read()
    emb = np.load(os.path.join(out, "embeddings.npz"))
    assert emb["features"].shape[0] == len(emb["ids"]) == 30 and emb["xy"].shape == (30, 2)
    assert len(emb["cell_ids"]) == len(emb["cell_features"]) > 0
    assert {c.split(":")[0] for c in emb["cell_ids"]} <= set(summary["samples"])
    assert str(emb["method"]) == summary["embeddings"]["method"] == "UMAP"
    import anndata

    ad = anndata.read_h5ad(os.path.join(out, "embeddings.h5ad"))
    np.testing.assert_array_equal(ad.X, emb["features"])
    np.testing.assert_array_equal(ad.obsm["X_2d"], emb["xy"])
    assert list(ad.obs["Id"]) == list(emb["ids"]) and ad.uns["embedding_method"] == "UMAP"
    cells_ad = anndata.read_h5ad(os.path.join(out, "cells.h5ad"))
    np.testing.assert_array_equal(cells_ad.X, emb["cell_features"])
    assert [f"{i}:{c}" for i, c in zip(cells_ad.obs["Id"], cells_ad.obs["cell"], strict=True)] == [
        str(c) for c in emb["cell_ids"]
    ]
    write_report(run, log=lambda *a: None)
    md = open(os.path.join(run, "report", "report.md")).read()
    assert "## Where the protein is" in md and "explain_" in md


@pytest.mark.slow  # 35 s; real PNGs stay in the default suite: explain segments them at 512 px
def test_explain_a_folder_of_real_pngs_with_masks_from_elsewhere(tiny_run, kaggle_root, tmp_path):
    """Real HPA PNGs (another folder: all fold models averaged), cells from .npy masks at
    the files' 512 px, scored there (the maps read at each cell pixel)."""
    import csv

    from gapnet.data.source import open_source
    from gapnet.explain.run_explain import ExplainRequest, explain
    from gapnet.segment import segment_cells

    src = open_source(str(kaggle_root))
    masks = tmp_path / "masks"
    masks.mkdir()
    from gapnet.data.images import read_sample

    for sid in src.labels.ids:
        cells, _ = segment_cells(read_sample(src.image_dir, sid, 512))
        np.save(masks / f"{sid}_cells.npy", cells)
    out = tmp_path / "explained"
    # --ids all: every sample, each scored on its own mask
    summary = explain(
        ExplainRequest(
            tiny_run[0], out=str(out), data=str(kaggle_root), ids=["all"], masks=str(masks)
        ),
        log=lambda *a: None,
    )
    assert summary["samples"] == list(src.labels.ids)
    assert summary["method"]["rule"].startswith("all fold models averaged")
    with open(out / "cells.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # every sample's cells are in cells.csv, as many as its mask holds
    for sid in src.labels.ids:
        n_mask = len(np.unique(np.load(masks / f"{sid}_cells.npy"))) - 1
        assert sum(r["Id"] == sid for r in rows) == n_mask, sid
    # a chosen sample without its mask is named
    (masks / "sample03_cells.npy").unlink()
    with pytest.raises(FileNotFoundError, match="sample03_cells"):
        explain(
            ExplainRequest(
                tiny_run[0],
                out=str(out),
                data=str(kaggle_root),
                ids=["sample00", "sample03"],
                masks=str(masks),
            ),
            log=lambda *a: None,
        )


def test_a_class_at_its_threshold_exactly_is_not_called():
    """One rule with tuning and scoring: a class is called when p > t, not at p == t."""
    from gapnet.explain.cells import cell_calls
    from gapnet.explain.scoring import called

    cells = np.ones((4, 4), np.int32)
    probs = np.full(28, 0.1, np.float32)
    probs[[3, 4]] = 0.5
    thr = np.full(28, 0.5, np.float32)
    thr[4] = 0.4
    maps = np.ones((28, 4, 4), np.float32)
    _, labels = cell_calls(probs, thr, maps, range(28), cells)
    assert labels == [[4]]
    assert np.flatnonzero(called(probs[None], thr[None])[0]).tolist() == [4]


def _explain_other(run, root, masks, out):
    import csv

    from gapnet.explain.run_explain import ExplainRequest, explain

    ids = ["sample00", "sample03"]
    explain(
        ExplainRequest(
            run, out=str(out), data=str(root), ids=ids, masks=str(masks), method="auto"
        ),  # any map: the scores' independence of the truth is the cell rule's
        log=lambda *a: None,
    )
    with open(out / "cells.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k.startswith("p_")} for r in csv.DictReader(f)]


@pytest.mark.slow  # 12 s; the cell rule's arithmetic is tested fast above
def test_cell_scores_do_not_depend_on_the_true_labels_nor_generate_the_runs_data(
    tiny_run, kaggle_root, tmp_path, monkeypatch
):
    """Explaining --data OTHER never resolves the run's own data (here the default
    synthetic atlas: nothing is generated in an empty GAPNET_CACHE), and cells.csv's
    scores are the same whatever the true labels say."""
    import json

    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["data"] = None  # made on the default atlas
    (run / "config.json").write_text(json.dumps(cfg))
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("GAPNET_CACHE", str(cache))
    masks = tmp_path / "masks"
    masks.mkdir()
    cells = np.zeros((48, 48), np.int32)
    cells[:, :24], cells[:, 24:] = 1, 2
    for sid in ("sample00", "sample03"):
        np.save(masks / f"{sid}_cells.npy", cells)
    before = _explain_other(str(run), kaggle_root, masks, tmp_path / "a")
    csv_path = kaggle_root / "train.csv"
    csv_path.write_text(csv_path.read_text().replace("sample00,0", "sample00,9 14 27"))
    after = _explain_other(str(run), kaggle_root, masks, tmp_path / "b")
    assert before == after and len(before) == 4
    assert os.listdir(cache) == []


@pytest.mark.slow  # the whole command on a copied run
def test_explain_command_with_other_data_leaves_the_runs_data_alone(
    tiny_run, kaggle_root, tmp_path, monkeypatch, capsys
):
    """`experiments/explain.py --data OTHER` into RUN/explain does not refresh the run report
    (it would resolve, and here regenerate, the run's own default atlas) and says so."""
    import importlib.util
    import json

    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["data"] = None
    (run / "config.json").write_text(json.dumps(cfg))
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("GAPNET_CACHE", str(cache))
    script = os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments", "explain.py")
    spec = importlib.util.spec_from_file_location("explain_cli", script)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    args = ["--run", str(run), "--data", str(kaggle_root), "--ids", "sample00"]
    rc = cli.main(args + ["--nucleus-diameter", "estimate", "--segment-method", "classical"])
    assert rc == 0
    said = capsys.readouterr()
    assert "run report not refreshed" in said.out
    # a model of synthetic data explaining real images: said, and written down
    assert f"note: {run} was trained on SYNTHETIC data" in said.err
    summary = json.loads((run / "explain" / "summary.json").read_text())
    assert summary["trained_on_synthetic"] is True and summary["synthetic"] is False
    assert "trained on SYNTHETIC data" in (run / "explain" / "gallery.html").read_text()
    assert os.listdir(cache) == [] and (run / "explain" / "cells.csv").is_file()
    # the diameter estimated per image is written beside the cells
    with open(run / "explain" / "segmentation.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["image"] == "sample00" and row["diameter"] == "estimated"
    assert row["method"] == "classical" and "(classical nuclei)" in str(summary["method"]["cells"])
    assert float(row["nucleus_diameter"]) > 0 and (row["height"], row["width"]) == ("512", "512")
    with pytest.raises(SystemExit):
        cli.main(args + ["--nucleus-diameter", "-3"])
    assert "'estimate'" in capsys.readouterr().err


def test_explain_segments_at_the_images_own_resolution(kaggle_root):
    """Without masks, cells come from the 512-px files and stay at 512 px."""
    from gapnet.data.images import read_sample
    from gapnet.data.source import open_source
    from gapnet.explain.cells import sample_cells
    from gapnet.segment import SegmentParams, segment_cells

    src = open_source(str(kaggle_root))
    sid = src.labels.ids[0]
    cells, seg, row = sample_cells(None, sid, src, 50.0)
    full = segment_cells(read_sample(src.image_dir, sid, 512), SegmentParams(50.0))[0]
    assert seg == 512 and cells.shape == (512, 512) and row["nucleus_diameter"] == 50.0
    assert row["cells"] == cells.max() and row["diameter"] == "given"
    assert row["method"] == "learned"  # segmentation.csv names the nucleus method
    np.testing.assert_array_equal(cells, full)
    classical = SegmentParams(50.0, method="classical")
    cells, _, row = sample_cells(None, sid, src, 50.0, "classical")
    ref = segment_cells(read_sample(src.image_dir, sid, 512), classical)[0]
    np.testing.assert_array_equal(cells, ref)
    assert row["method"] == "classical" and not np.array_equal(cells, full)
    assert cells.max() > 0
    # None: the diameter is estimated from the image, and the one used is returned
    est, _, row = sample_cells(None, sid, src, None)
    ref = segment_cells(read_sample(src.image_dir, sid, 512), SegmentParams(None))[0]
    np.testing.assert_array_equal(est, ref)
    assert 0 < row["nucleus_diameter"] != 50.0 and row["diameter"] == "estimated"


def test_cell_shares_read_maps_at_the_masks_resolution_so_small_cells_keep_a_score():
    from gapnet.explain.cells import cell_shares
    from gapnet.segment import resize_labels

    rng = np.random.default_rng(0)
    maps = rng.random((3, 8, 8))
    # at the maps' size: the plain per-cell mean over the median
    cells = np.zeros((8, 8), np.int32)
    cells[:4, :4], cells[4:, :4], cells[:, 4:] = 1, 2, 3
    means = np.array([[maps[k][cells == c].mean() for k in range(3)] for c in (1, 2, 3)])
    np.testing.assert_allclose(cell_shares(maps, cells), means / np.median(means, 0), rtol=1e-5)
    # the same cells at 4x: the same shares (every fine pixel reads its coarse pixel)
    fine = np.kron(cells, np.ones((4, 4), np.int32))
    np.testing.assert_allclose(cell_shares(maps, fine), cell_shares(maps, cells), rtol=1e-5)
    # a 2x2 cell inside one map pixel vanishes when the mask is shrunk, not when it is read
    fine[:2, :2] = 4
    assert 4 not in resize_labels(fine, (8, 8))
    shares = cell_shares(maps, fine)
    assert shares.shape == (4, 3)
    # brute force: the maps upsampled 4x by repetition, averaged over each fine cell
    up = np.stack([np.kron(m, np.ones((4, 4))) for m in maps])
    means = np.array([[up[k][fine == c].mean() for k in range(3)] for c in (1, 2, 3, 4)])
    np.testing.assert_allclose(shares, means / np.median(means, 0), rtol=1e-5)
    np.testing.assert_allclose(means[3], maps[:, 0, 0])


def test_embeddings_fall_back_to_pca_and_round_trip_through_anndata(tmp_path):
    import anndata

    from gapnet.explain.embed import two_d, write_h5ad

    feats = np.random.default_rng(8).normal(size=(5, 6)).astype(np.float32)
    xy, method = two_d(feats)  # too few points for UMAP's neighbour graph
    assert method == "PCA" and xy.shape == (5, 2)
    path = str(tmp_path / "e.h5ad")
    obs = {"Id": [f"s{i}" for i in range(5)], "labels": ["0", "1 2", "", "3", "0"]}
    write_h5ad(path, feats, obs, xy, method)
    ad = anndata.read_h5ad(path)
    np.testing.assert_array_equal(ad.X, feats)
    np.testing.assert_array_equal(ad.obsm["X_2d"], xy)
    assert list(ad.obs["Id"]) == obs["Id"] and list(ad.obs["labels"]) == obs["labels"]
    assert ad.uns["embedding_method"] == "PCA"


def test_cell_features_read_the_feature_map_at_the_masks_resolution():
    model = per_image_model(16)
    ex = Explainer(model)
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (16, 16, 4)).astype(np.uint8)
    f = np.asarray(ex._forward(image[None])[1][-1][0], np.float64)
    scale = 64 // f.shape[0]
    cells = np.zeros((64, 64), np.int32)
    cells[:32, :32], cells[40:60, 8:30] = 1, 2
    cells[1:3, 40:42] = 3  # 2 x 2 px: smaller than a feature pixel at 64 px
    feats = ex.cell_features(image, cells)
    up = np.stack([np.kron(f[..., c], np.ones((scale, scale))) for c in range(f.shape[-1])], -1)
    want = np.stack([up[cells == c].mean(0) for c in (1, 2, 3)])
    np.testing.assert_allclose(feats, want, rtol=1e-5, atol=1e-6)
    assert np.abs(feats[2]).sum() > 0  # the tiny cell keeps its features


@pytest.mark.slow  # suite time (9 s); explain's fast tests: segmentation, refusals, maps
def test_explaining_named_samples_of_another_folder_scores_only_those(
    tiny_run, tiny_data, tmp_path, monkeypatch, capsys
):
    """At 31,072 samples, `explain.py --data ROOT --ids A B` must not run the models over
    all of ROOT: only the named samples get probabilities (the gallery needs them all).
    Each stage (scoring, explaining) writes at most 20 progress lines to a log (a 4:44
    explain once wrote none; a terminal gets a tqdm bar)."""
    import gapnet.explain.run_explain as rx
    from gapnet.data.source import open_source

    ids = list(open_source(tiny_data).labels.ids)
    asked, got, real = [], [], rx.probabilities

    def spy(*a):
        asked.append(a[3])
        got.append(real(*a))
        return got[-1]

    monkeypatch.setattr(rx, "probabilities", spy)
    req = rx.ExplainRequest(
        run=tiny_run[0], data=tiny_data, ids=[ids[7], ids[2]], out=str(tmp_path)
    )
    assert rx.explain(req, log=lambda *a: None)["samples"] == [ids[7], ids[2]]
    assert asked == [[2, 7]]
    err = capsys.readouterr().err.splitlines()
    for stage in ("scoring", "explaining"):
        lines = [s for s in err if s.startswith(f"{stage}: ")]
        assert 1 <= len(lines) <= 20 and "100% (2/2 sample)" in lines[-1], err
    from gapnet.cv.submission import fold_models
    from gapnet.data.cache import open_reader
    from gapnet.training.predict import load_model

    explainers = [rx.Explainer(load_model(p, compile=False)) for p in fold_models(tiny_run[0])]
    reader = open_reader(open_source(tiny_data), ids, 48, "auto", lambda *a: None)
    some, every = got[0], real(explainers, reader, len(ids))
    np.testing.assert_allclose(some[[2, 7]], every[[2, 7]], rtol=1e-5)
    assert np.isnan(np.delete(some, [2, 7], 0)).all() and not np.isnan(every).any()


@pytest.mark.parametrize("shown", [1, 3, 6])
def test_a_sample_figures_titles_lie_inside_the_figure(tmp_path, monkeypatch, shown):
    """Every panel's title (the sample Id and its true labels; the class name and p) is
    inside the saved figure: a 3.5 in figure cut their top line in every panel."""
    from gapnet.explain import figures

    kept = []
    monkeypatch.setattr(figures.plt, "close", kept.append)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (48, 48, 4), np.uint8)
    cells = np.zeros((48, 48), np.int32)
    cells[5:20, 5:20] = 1
    classes = [0, 25, 5, 7, 11, 2][:shown]
    path = tmp_path / "f.png"
    title = "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab\ntrue: [0, 25]"
    probs = rng.random(28)
    figures.sample_figure(
        str(path), image, rng.random((shown, 48, 48)), classes, probs, title, cells, {0, 25}
    )
    assert path.stat().st_size > 1000
    (fig,) = kept
    fig.set_dpi(80)  # as saved
    fig.canvas.draw()
    renderer, box = fig.canvas.get_renderer(), fig.bbox
    for ax in fig.axes:
        extent = ax.title.get_window_extent(renderer)
        assert ax.title.get_text()
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1, ax.title.get_text()
        assert box.y0 <= extent.y0 and extent.y1 <= box.y1, ax.title.get_text()
    monkeypatch.undo()
    figures.plt.close(fig)
