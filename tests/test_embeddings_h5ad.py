"""explain.py --embeddings writes AnnData files in SubCell's layout (X the embedding,
obsm["probabilities"], obsm["X_umap"], obs ids and metadata, var feature names, uns the
run) that scanpy reads and clusters (neighbors + leiden)."""

import csv
import os
import runpy
import shutil

import numpy as np
import pytest

sc = pytest.importorskip("scanpy")  # the [napari] extra's analysis side (in dev: CI runs it)
pytest.importorskip("leidenalg")


def test_well_and_plate_come_from_hpa_ids_only():
    from gapnet.explain.embed import well_plate

    assert well_plate("10814_50_A1_1") == ("A1", "10814")
    assert well_plate("1000_A12_2") == ("", "")  # not <plate>_<n>_<well>_<field>
    assert well_plate("000a6c98-bb9b-11e8-b2b9-ac1f6b6435d0") == ("", "")


def test_h5ad_layout_has_subcells_keys_and_the_runs_metadata(tmp_path):
    import anndata

    from gapnet.explain.embed import write_h5ad

    feats = np.arange(24, dtype=np.float32).reshape(4, 6)
    probs = np.full((4, 19), 0.5, np.float32)
    path = str(tmp_path / "e.h5ad")
    write_h5ad(
        path,
        feats,
        {"Id": list("abcd")},
        np.zeros((4, 2)),
        "PCA",
        probs=probs,
        uns={"scheme": "hpa2021"},
        var={"layer": ["gap1"] * 6},
        index=list("abcd"),
    )
    ad = anndata.read_h5ad(path)
    assert list(ad.obs_names) == list("abcd") and ad.var_names[5] == "feat0005"
    np.testing.assert_array_equal(ad.obsm["probabilities"], probs)
    assert "X_umap" not in ad.obsm  # a PCA map is not called UMAP
    assert ad.uns["scheme"] == "hpa2021" and ad.uns["embedding_method"] == "PCA"


@pytest.mark.slow  # ~60 s on 2 shared cores: numba compiles UMAP's and scanpy's kernels
def test_h5ad_layout_reads_in_scanpy_and_clusters(tmp_path):
    from gapnet.explain.embed import two_d, write_h5ad

    rng = np.random.default_rng(0)
    feats = np.concatenate([rng.normal(m, 0.3, (20, 8)) for m in (0, 3)]).astype(np.float32)
    probs = rng.uniform(size=(40, 28)).astype(np.float32)
    xy, method = two_d(feats)
    ids = [f"img{i}" for i in range(40)]
    path = str(tmp_path / "e.h5ad")
    write_h5ad(
        path,
        feats,
        {"Id": ids, "origin": ["synthetic"] * 40},
        xy,
        method,
        probs=probs,
        uns={"scheme": "hpa2018", "class_names": ["Nucleoplasm"] * 28, "run": "RUN"},
        var={"layer": ["gap3"] * 8},
        index=ids,
    )
    ad = sc.read_h5ad(path)
    assert list(ad.obs_names) == ids and list(ad.var_names)[:2] == ["feat0000", "feat0001"]
    np.testing.assert_array_equal(ad.obsm["probabilities"], probs)
    np.testing.assert_array_equal(ad.obsm["X_umap"], xy)  # scanpy's key for the 2-D map
    assert method == "UMAP" and ad.uns["scheme"] == "hpa2018" and ad.var["layer"].iloc[0] == "gap3"
    sc.pp.neighbors(ad, use_rep="X", n_neighbors=10)
    sc.tl.leiden(ad, flavor="igraph", n_iterations=2, random_state=0)
    clusters = ad.obs["leiden"].astype(int).to_numpy()
    assert len(set(clusters[:20]) & set(clusters[20:])) == 0  # the two blobs never mix


@pytest.mark.slow
def test_explain_embeddings_give_image_and_cell_h5ad_that_scanpy_clusters(tiny_run, tmp_path):
    run = str(tmp_path / "run")
    shutil.copytree(tiny_run[0], run)
    main = runpy.run_path("experiments/explain.py", run_name="explain")["main"]
    assert main(["--run", run, "--ids", "all", "--embeddings", "--no-report"]) == 0
    out = os.path.join(run, "explain")
    images = sc.read_h5ad(os.path.join(out, "embeddings.h5ad"))
    cells = sc.read_h5ad(os.path.join(out, "cells.h5ad"))
    assert images.n_obs == 30 and images.obsm["probabilities"].shape == (30, 28)
    assert images.uns["scheme"] == "hpa2018" and len(images.uns["class_names"]) == 28
    assert images.uns["model"] == "gapnet" and images.uns["run"] == os.path.abspath(run)
    assert images.obs["origin"].iloc[0].startswith("synthetic")
    assert set(images.var["layer"]) and images.var_names[0] == "feat0000"
    with open(os.path.join(out, "cells.csv"), newline="") as f:
        rows = {f"{r['Id']}:{r['cell']}": r for r in csv.DictReader(f)}
    assert cells.n_obs > 10 and set(cells.obs_names) <= set(rows)
    for name, p in zip(cells.obs_names, cells.obsm["probabilities"], strict=True):
        np.testing.assert_allclose(p, [float(rows[name][f"p_{k}"]) for k in range(28)], rtol=1e-4)
    assert (cells.obs["area"] > 0).all() and set(cells.obs["edge"]) <= {0, 1}
    for ad in (images, cells):
        sc.pp.neighbors(ad, use_rep="X", n_neighbors=5)
        sc.tl.leiden(ad, flavor="igraph", n_iterations=2, random_state=0)
        assert ad.obs["leiden"].nunique() >= 1 and len(ad.obs["leiden"]) == ad.n_obs
